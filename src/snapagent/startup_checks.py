"""Refuse to start with a configuration that cannot work, naming the setting to fix.

The embedded default (SQLite under ``data_dir``, a JWT secret generated into ``data_dir``)
needs nothing configured. A *production* deployment - ``DATABASE_URL`` naming PostgreSQL, or
``SNAPAGENT_ENV=production`` - must not fall back to any of that silently:

- ``SNAPAGENT_JWT_SECRET`` must be set (replicas share no disk, so a generated per-container
  secret would make each replica reject the others' tokens), at least 32 characters, and not a
  placeholder such as ``change-me...``;
- ``DATABASE_URL`` must name PostgreSQL and the database must answer.

In every mode the default chat model (``SNAPAGENT_DEFAULT_MODEL``) and embedding model
(``SNAPAGENT_EMBEDDING_MODEL``) must be usable: a known provider whose key/region is set.

``snapagent serve`` calls :func:`ensure_startable` before anything else; ``snapagent config
check`` calls :func:`find_problems` and prints them.

    problems = await find_problems(ServerSettings(), CoreSettings(), ProviderSettings())
    await ensure_startable(ServerSettings(), CoreSettings())   # raises StartupCheckError
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.db.session import Database
from snapagent.errors import DefinitionError, SnapAgentError, UnavailableError
from snapagent.server_settings import ServerSettings
from snapagent.settings import CoreSettings

__all__ = [
    "ConfigProblem",
    "DeploymentSettings",
    "StartupCheckError",
    "ensure_startable",
    "find_problems",
    "is_production",
]

MIN_SECRET_LENGTH = 32
# Fewer distinct characters than this is a typed-in filler ("xxxx...", "aaaa..."), not a key.
_MIN_DISTINCT_SECRET_CHARS = 8
_PLACEHOLDER_MARKERS = ("change-me", "changeme", "change_me", "replace-me", "your-secret")
DATABASE_CHECK_TIMEOUT_S = 10.0


class DeploymentSettings(BaseSettings):
    """Which kind of installation this is (environment: ``SNAPAGENT_ENV``).

    >>> DeploymentSettings(env="production").env
    'production'
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development",
        description="production: refuse embedded fallbacks (generated secret, SQLite).",
    )


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One reason the configuration would refuse to start: the setting and what is wrong."""

    setting: str
    reason: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.reason}"


class StartupCheckError(DefinitionError):
    """The configuration would not work; ``problems`` names every setting to fix.

    >>> str(StartupCheckError([ConfigProblem("DATABASE_URL", "unreachable")]))
    'refusing to start: DATABASE_URL: unreachable'
    """

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__(
            "refusing to start: " + "; ".join(str(p) for p in problems),
            details={"problems": [{"setting": p.setting, "reason": p.reason} for p in problems]},
        )
        self.problems = problems


def is_production(core: CoreSettings, deployment: DeploymentSettings | None = None) -> bool:
    """Outside the embedded default: PostgreSQL configured, or ``SNAPAGENT_ENV=production``."""
    deployment = deployment or DeploymentSettings()
    return deployment.env == "production" or not core.is_embedded


def _secret_problem(secret: str | None) -> str | None:
    if secret is None or not secret.strip():
        return "must be set outside the embedded default (replicas must share one secret)"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"must be at least {MIN_SECRET_LENGTH} characters (got {len(secret)})"
    lowered = secret.lower()
    if any(marker in lowered for marker in _PLACEHOLDER_MARKERS):
        return "is a placeholder value; generate one (openssl rand -base64 48)"
    if len(set(secret)) < _MIN_DISTINCT_SECRET_CHARS:
        return "is not random (too few distinct characters); generate one"
    return None


async def _database_problem(core: CoreSettings, *, connect: bool) -> ConfigProblem | None:
    if core.is_embedded:
        return ConfigProblem("DATABASE_URL", "production needs PostgreSQL (it is unset or SQLite)")
    try:
        db = Database.from_settings(core)
    except SnapAgentError as exc:  # not a URL, or an unsupported backend
        return ConfigProblem("DATABASE_URL", exc.message)
    try:
        if connect:
            # A black-holed host would otherwise hang for the driver's own (long) timeout.
            await asyncio.wait_for(db.check(), DATABASE_CHECK_TIMEOUT_S)
    except TimeoutError:
        return ConfigProblem(
            "DATABASE_URL", f"no answer within {DATABASE_CHECK_TIMEOUT_S:g} s ({db.safe_url})"
        )
    except SnapAgentError as exc:
        return ConfigProblem("DATABASE_URL", f"{exc.message} ({db.safe_url})")
    finally:
        await db.dispose()
    return None


def _model_problem(variable: str, create: Callable[[], object]) -> ConfigProblem | None:
    """Creating a client checks the provider and its key/region; nothing is sent."""
    from snapagent.llm.errors import ProviderNotConfiguredError

    try:
        create()
    except ProviderNotConfiguredError as exc:
        return ConfigProblem(exc.setting, f"{exc.message} ({variable})")
    except (DefinitionError, UnavailableError) as exc:  # unknown id, model not installed
        return ConfigProblem(variable, exc.message)
    return None


async def _model_problems() -> list[ConfigProblem]:
    # Imported here: only this needs the registries. The chat model is checked, not created:
    # creating its client would import the provider's SDK (seconds on a busy machine) in a
    # process that never calls it.
    from snapagent.llm.registry import (
        EMBEDDING_FORMS,
        ChatModelRegistry,
        EmbeddingRegistry,
        check_local_embedding,
        split_model_id,
    )
    from snapagent.llm.settings import ProviderSettings

    settings = ProviderSettings()
    chat, embeddings = ChatModelRegistry(settings), EmbeddingRegistry(settings)

    def embedding_model() -> None:
        provider, name = split_model_id(settings.embedding_model, forms=EMBEDDING_FORMS)
        if provider == "local":  # resolving would load the weights: only check it is there
            check_local_embedding(name)
        else:
            embeddings.get(None)

    try:
        found = [
            _model_problem("SNAPAGENT_DEFAULT_MODEL", lambda: chat.check(None)),
            _model_problem("SNAPAGENT_EMBEDDING_MODEL", embedding_model),
        ]
    finally:
        await chat.aclose()
        await embeddings.aclose()
    return [problem for problem in found if problem]


async def find_problems(
    server: ServerSettings,
    core: CoreSettings,
    deployment: DeploymentSettings | None = None,
    *,
    check_database: bool = True,
) -> list[ConfigProblem]:
    """Every reason this configuration would refuse to start (empty: it would start).

    ``check_database=False`` skips connecting (``snapagent config check --offline``).
    """
    problems = await _model_problems()
    if not is_production(core, deployment):
        return problems
    secret_problem = _secret_problem(server.jwt_secret)
    if secret_problem:
        problems.append(ConfigProblem("SNAPAGENT_JWT_SECRET", secret_problem))
    database_problem = await _database_problem(core, connect=check_database)
    if database_problem:
        problems.append(database_problem)
    return problems


async def ensure_startable(
    server: ServerSettings, core: CoreSettings, deployment: DeploymentSettings | None = None
) -> None:
    """Raise :class:`StartupCheckError` naming every setting that would keep us from serving."""
    problems = await find_problems(server, core, deployment)
    if problems:
        raise StartupCheckError(problems)
