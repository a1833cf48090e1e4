"""Settings of the HTTP server: accounts (registration, password hashing and its bounds, login
throttling, token signing), CORS, where to listen.

The upload limit is the knowledge settings' ``max_upload_bytes``
(``SNAPAGENT_KNOWLEDGE_MAX_UPLOAD_BYTES``): one limit, enforced by the HTTP layer while the body
streams in and again by `KnowledgeService`.

Read from the environment (prefix ``SNAPAGENT_``) like every other settings class, so
``SNAPAGENT_JWT_SECRET=... snapagent serve`` works. With no secret configured, the embedded
default generates one once and keeps it in ``<data_dir>/jwt_secret`` (mode 0600), so tokens
survive restarts and are shared by every worker of one installation.

    settings = ServerSettings(jwt_secret="s" * 32, token_expiry_minutes=15)
    app = create_app(settings=settings)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.errors import InputValidationError
from snapagent.private_files import make_private_dir

__all__ = ["ServerSettings", "ShutdownSettings", "resolve_jwt_secret"]

_MIN_SECRET_LENGTH = 32


class ServerSettings(BaseSettings):
    """Configuration of `snapagent serve` and `create_app`.

    >>> ServerSettings(jwt_secret="x" * 32).token_expiry_minutes
    60
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_", extra="ignore")

    jwt_secret: str | None = Field(
        default=None,
        description="HS256 signing key for access tokens (>= 32 chars). Unset: generated once "
        "and stored under data_dir.",
    )
    token_expiry_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed by CORS; empty disables CORS."
    )
    # argon2id cost; the defaults are argon2-cffi's (RFC 9106 "low memory" profile). Tests lower
    # them because each hash costs ~0.3 s of CPU at these settings.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Each argon2 hash holds argon2_memory_kib (64 MiB) while it runs: at most this many run at
    # once per process, a few more wait briefly, the rest get 429 at once - never more memory.
    password_hash_concurrency: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Password hashes (login, registration, password change) computed at once "
        "per server process; each holds SNAPAGENT_ARGON2_MEMORY_KIB while it runs.",
    )
    password_hash_queue: int = Field(
        default=16,
        ge=0,
        le=10_000,
        description="Password checks that may wait for a free slot; more get 429 at once.",
    )
    password_hash_wait_s: float = Field(
        default=3.0,
        gt=0,
        le=60,
        description="How long a password check waits for a slot before it gets 429.",
    )
    registration: Literal["open", "closed"] = Field(
        default="open",
        description="open: anyone may register. closed: only an existing account (register "
        "with its Authorization header) or an operator (`snapagent users create`).",
    )
    login_failures_per_account: int = Field(
        default=10,
        ge=0,
        description="Failed logins per account (email) per window before 429; 0: no limit.",
    )
    login_failures_per_client: int = Field(
        default=50,
        ge=0,
        description="Failed logins per client address per window before 429; 0: no limit.",
    )
    login_failure_window_s: int = Field(
        default=900, ge=1, le=86_400, description="The window failed logins are counted in."
    )
    registrations_per_client: int = Field(
        default=20,
        ge=0,
        description="Registration attempts per client address per window; 0: no limit.",
    )
    registration_window_s: int = Field(
        default=3600, ge=1, le=86_400, description="The window registrations are counted in."
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description="Peers trusted to report the client's address in X-Forwarded-For (the load "
        "balancer's addresses, comma-separated, or * when only it can reach the server). The "
        "per-client login and registration limits count that address. Unset: uvicorn's default "
        "(127.0.0.1, or the FORWARDED_ALLOW_IPS variable).",
    )
    gc_young_threshold: int = Field(
        default=10_000,
        ge=700,
        le=1_000_000,
        description="`snapagent serve`: new container objects between two collections of the "
        "garbage collector's youngest generation (Python's default is 700; the older "
        "generations follow every 10th). Fewer collections per request; the garbage a "
        "collection finds stays bounded by this count.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)


def resolve_jwt_secret(settings: ServerSettings, data_dir: Path) -> str:
    """The configured secret, else the one persisted under ``data_dir`` (created on first use)."""
    if settings.jwt_secret is not None:
        if len(settings.jwt_secret) < _MIN_SECRET_LENGTH:
            raise InputValidationError(
                f"SNAPAGENT_JWT_SECRET must be at least {_MIN_SECRET_LENGTH} characters",
                field="jwt_secret",
            )
        return settings.jwt_secret
    path = data_dir / "jwt_secret"
    if path.exists():
        return _read_secret(path)
    make_private_dir(data_dir)
    # Write a private temp file, then hard-link it into place: the link is atomic, so when
    # several workers start at once exactly one secret wins and nobody reads a half-written file.
    tmp = data_dir / f".jwt_secret.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return _read_secret(path)


def _read_secret(path: Path) -> str:
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < _MIN_SECRET_LENGTH:
        raise InputValidationError(
            f"{path} does not hold a usable secret; delete it to generate a new one "
            "(existing tokens become invalid)",
            field="jwt_secret",
        )
    return secret


class ShutdownSettings(BaseSettings):
    """How long a stopping server waits (environment: ``SNAPAGENT_GRACEFUL_TIMEOUT_S``...).

    >>> ShutdownSettings(graceful_timeout_s=5).record_timeout_s
    10.0
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_", extra="ignore")

    graceful_timeout_s: int = Field(
        default=20, ge=0, le=3600, description="In-flight requests may finish this long."
    )
    record_timeout_s: float = Field(
        default=10.0, gt=0, le=600, description="Then: wait this long for cancelled runs' records."
    )
