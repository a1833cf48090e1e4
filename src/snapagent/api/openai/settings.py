"""Limits of the OpenAI-compatible API (environment:
``SNAPAGENT_INTEGRATIONS_*``).

    IntegrationSettings(max_messages=64).max_messages     # 64

The JSON body limit (``SNAPAGENT_JSON_BODY_MAX_BYTES``) bounds a request as a whole; these bound
its shape, so a hostile body is refused before any of it is looked at item by item.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["IntegrationSettings", "get_integration_settings"]


class IntegrationSettings(BaseSettings):
    """See the module docstring."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_INTEGRATIONS_", extra="ignore")

    max_messages: int = Field(
        default=256, ge=1, le=10_000, description="Most `messages` in one chat completion request."
    )
    max_content_parts: int = Field(
        default=64, ge=1, le=1000, description="Most content parts in one message."
    )


@lru_cache(maxsize=1)
def get_integration_settings() -> IntegrationSettings:
    """The settings from the environment, read once (tests call ``cache_clear()``)."""
    return IntegrationSettings()
