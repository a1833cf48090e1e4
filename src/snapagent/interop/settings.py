"""Operator limits on importing bots (``SNAPAGENT_IMPORT_*``).

A file is parsed and converted in an isolated worker process (`snapagent.isolation`): these
bound what a hostile file can make it do - its size, the YAML it may contain (aliases,
nesting, the size of the document once aliases are expanded) and the worker's memory and time.

    >>> ImportSettings(max_bytes=1024).max_bytes
    1024
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ImportSettings", "get_import_settings"]


class ImportSettings(BaseSettings):
    """Limits of `POST /api/v1/bots/import` and `snapagent import`."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_IMPORT_", extra="ignore")

    max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=100 * 1024 * 1024,
        description="Largest file accepted (bytes); larger uploads answer 413.",
    )
    max_aliases: int = Field(
        default=1_000, ge=0, le=1_000_000, description="Most YAML aliases (*ref) in one file."
    )
    max_depth: int = Field(
        default=64, ge=8, le=1_000, description="Deepest nesting of mappings and lists."
    )
    max_values: int = Field(
        default=2_000_000,
        ge=1_000,
        le=50_000_000,
        description="Most values (scalars and collections) once aliases are expanded: a YAML "
        "'billion laughs' file is refused before it is built.",
    )
    timeout_s: float = Field(
        default=60.0, gt=0, le=600, description="Longest one file may take to parse and convert."
    )
    memory_mb: int = Field(
        default=1024, ge=128, le=16_384, description="Memory limit of the parsing worker (MiB)."
    )
    workers: int = Field(
        default=1, ge=1, le=16, description="Files parsed at once (more wait their turn)."
    )


@lru_cache(maxsize=1)
def get_import_settings() -> ImportSettings:
    """The settings from the environment (read once; tests pass their own)."""
    return ImportSettings()
