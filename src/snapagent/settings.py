"""Core settings shared by every part: where data lives and which database to use.

Each area keeps its own settings class next to its code (`snapagent.llm.settings`, ...); they all
read the environment through pydantic-settings, so `DATABASE_URL=... snapagent serve` works.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CoreSettings", "get_core_settings"]


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


@lru_cache(maxsize=1)
def get_core_settings() -> CoreSettings:
    return CoreSettings()
