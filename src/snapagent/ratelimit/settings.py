"""Rate-limit settings (environment: ``SNAPAGENT_RATE_LIMIT_*``).

    RateLimitSettings(chat_per_minute=60, upload_per_minute=10)

0 turns a limit off; both are off by default so a fresh install and the test suites are not
throttled - production sets them (see docs/observability.md).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["RateLimitSettings"]


class RateLimitSettings(BaseSettings):
    """Requests per minute per API key (or per user, for a login token).

    >>> RateLimitSettings(chat_per_minute=5).enabled
    True
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_RATE_LIMIT_", extra="ignore")

    chat_per_minute: int = Field(default=0, ge=0, description="POST /api/v1/chat; 0: no limit.")
    upload_per_minute: int = Field(default=0, ge=0, description="Document uploads; 0: no limit.")
    window_seconds: int = Field(
        default=60, ge=1, le=3600, description="Length of one counting window."
    )

    @property
    def enabled(self) -> bool:
        return self.chat_per_minute > 0 or self.upload_per_minute > 0
