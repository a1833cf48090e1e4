"""Settings of the ``code`` node's sandbox (``SNAPAGENT_CODE_*``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CodeSandboxSettings", "get_code_sandbox_settings"]

SandboxMode = Literal["auto", "namespaces", "landlock", "off"]


class CodeSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_CODE_", extra="ignore")

    sandbox: SandboxMode = Field(
        default="auto",
        description="Isolation of user code: auto (namespaces, else Landlock, else refuse), "
        "namespaces or landlock (that level or refuse), off (the code node always fails).",
    )
    concurrency: int = Field(
        default=2, ge=1, le=64, description="Code calls that may run at once (one zygote each)."
    )
    timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Wall-clock limit of one call (a node's own timeout_s may be shorter).",
    )
    memory_mb: int = Field(
        default=256, ge=16, le=65536, description="Memory a call may allocate (address space)."
    )
    max_output_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=256 * 1024 * 1024, description="Largest JSON result."
    )
    max_input_bytes: int = Field(
        default=1024 * 1024, ge=1024, le=256 * 1024 * 1024, description="Largest JSON input."
    )
    max_code_chars: int = Field(
        default=100_000, ge=100, le=10_000_000, description="Longest code a node may hold."
    )
    nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Scheduling niceness of user code: a busy loop yields the CPU to the server.",
    )
    uid: int = Field(
        default=65534, ge=1, description="User id code runs as when the server runs as root."
    )
    gid: int = Field(
        default=65534, ge=1, description="Group id code runs as when the server runs as root."
    )


@lru_cache(maxsize=1)
def get_code_sandbox_settings() -> CodeSandboxSettings:
    return CodeSandboxSettings()
