"""Settings of outbound requests (``SNAPAGENT_HTTP_*``): the SSRF allow-list and the limits of
the ``http_request`` node."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.netguard.policy import NetworkPolicy, parse_networks

__all__ = ["HttpSettings", "get_http_settings"]


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_HTTP_", extra="ignore")

    allowed_networks: str = Field(
        default="",
        description="Comma-separated CIDRs that outbound requests may reach although they are "
        "loopback/private/link-local (e.g. 10.20.0.0/16,127.0.0.1/32). Empty: public only.",
    )
    timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Default time limit of one HTTP request."
    )
    max_timeout_s: float = Field(
        default=120.0, gt=0, le=3600, description="Largest timeout_s an http_request may set."
    )
    max_response_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest response body read; reading stops past it.",
    )
    max_redirects: int = Field(default=5, ge=0, le=30, description="Redirects followed at most.")

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        list(parse_networks(value))  # raises naming the bad entry
        return value

    @property
    def policy(self) -> NetworkPolicy:
        return NetworkPolicy.from_setting(self.allowed_networks)


@lru_cache(maxsize=1)
def get_http_settings() -> HttpSettings:
    return HttpSettings()
