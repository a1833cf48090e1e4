"""Core settings shared by every part: where data lives and which database to use.

Each area keeps its own settings class next to its code (`snapagent.llm.settings`, ...); they all
read the environment through pydantic-settings, so `DATABASE_URL=... snapagent serve` works.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CoreSettings", "DatabaseSettings", "get_core_settings"]


class CoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"),
        description="Directory for the embedded SQLite database and uploaded originals.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy async URL; unset means SQLite under data_dir (embedded default).",
    )

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'snapagent.db').resolve()}"

    @property
    def is_embedded(self) -> bool:
        return self.database_url is None or self.database_url.startswith("sqlite")


class DatabaseSettings(BaseSettings):
    """Each server process's connection pool, and SQLite's durability (environment:
    ``SNAPAGENT_DATABASE_*``).

    Size it for the requests a process serves at once: a request holds a connection only
    while it reads (authentication, the bot) and the group commit holds one per transaction,
    so 32 concurrent chats need far fewer than 32. Connections past ``pool_size`` are opened
    and closed per use (on SQLite each one starts a thread), which is what made the old
    default (5 + 10 overflow) slow under load; a request finding every connection busy waits
    its turn, up to ``pool_timeout_s``. On PostgreSQL every process of every replica holds up
    to ``pool_size + max_overflow`` connections: keep their sum under the server's
    ``max_connections``."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_DATABASE_", extra="ignore")

    pool_size: int = Field(
        default=20, ge=1, le=1000, description="Connections each process keeps open."
    )
    max_overflow: int = Field(
        default=10, ge=0, le=1000, description="Extra connections opened under load, then closed."
    )
    pool_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest wait for a free connection before a 503."
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description=(
            "SQLite's PRAGMA synchronous (WAL mode). NORMAL: a committed turn survives a crash "
            "of the server process, but a power loss or OS crash may undo the last commits "
            "(the WAL is synced at checkpoints, not per commit). FULL: one fsync per commit - "
            "per group commit, that is a batch of turns - and nothing acknowledged is lost."
        ),
    )
    pool_pre_ping: bool = Field(
        default=False,
        description=(
            "PostgreSQL: test each connection with a round trip when it is taken from the pool. "
            "Off by default: a connection the server closed (a restart) is noticed without one; "
            "turn on when a network path can drop idle connections silently."
        ),
    )


@lru_cache(maxsize=1)
def get_core_settings() -> CoreSettings:
    return CoreSettings()
