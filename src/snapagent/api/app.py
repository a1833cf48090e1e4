"""The FastAPI application factory.

    app = create_app()                       # embedded defaults: SQLite under ./data
    app = create_app(settings=ServerSettings(jwt_secret=...), database=Database(url))

The lifespan opens the database (when the app created it), applies migrations for SQLite (the
embedded default; PostgreSQL is only checked - operators run ``snapagent db upgrade``), and
closes what it opened. Its shutdown first closes the chat service: chat runs still open (the
server's grace period, if any, is over) are cancelled and their ``cancelled`` records awaited for
up to ``ShutdownSettings.record_timeout_s`` before the database closes - for every app this
factory builds, ``snapagent serve`` or not. Every error leaves through
:mod:`snapagent.api.errors` as problem+json.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from importlib.metadata import version

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.api.body_limit import BodySizeLimitMiddleware
from snapagent.api.console import ConsoleSettings, install_console
from snapagent.api.docs_ui import install_docs_ui
from snapagent.api.errors import install_error_handlers
from snapagent.api.routes import (
    api_keys,
    auth,
    bots,
    chat,
    executions,
    health,
    knowledge_bases,
    metrics,
    migration,
    node_types,
    readiness,
    sessions,
    workflow_versions,
)
from snapagent.api.state import AppState
from snapagent.db.migrate import ensure_database_ready
from snapagent.db.session import Database
from snapagent.llm.lazy import DeferredChatModelRegistry
from snapagent.observability.install import install_observability
from snapagent.observability.settings import ObservabilitySettings
from snapagent.ratelimit.settings import RateLimitSettings
from snapagent.server_settings import ServerSettings
from snapagent.services.accounts import Credentials
from snapagent.services.chat import ChatService
from snapagent.services.graph_resources import GraphResources
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings, get_core_settings
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.services import ChatModelProvider

__all__ = ["ShutdownSettings", "StartupHook", "create_app"]

log = logging.getLogger(__name__)

# Multipart framing around an uploaded file; the file itself is checked against the exact limit.
_MULTIPART_OVERHEAD = 64 * 1024

StartupHook = Callable[[AppState, AsyncExitStack], Awaitable[None]]
"""Runs in the lifespan after the database is ready; registers its cleanup on the stack."""


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


def _default_registry() -> NodeRegistryV2:
    from snapagent.nodes import default_registry

    registry: NodeRegistryV2 = default_registry()
    return registry


def create_app(
    settings: ServerSettings | None = None,
    database: Database | None = None,
    *,
    core_settings: CoreSettings | None = None,
    node_registry: NodeRegistryV2 | None = None,
    knowledge: KnowledgeService | None = None,
    chat_models: ChatModelProvider | None = None,
    startup_hooks: tuple[StartupHook, ...] = (),
    observability: ObservabilitySettings | None = None,
    rate_limits: RateLimitSettings | None = None,
    shutdown: ShutdownSettings | None = None,
    console: ConsoleSettings | None = None,
) -> FastAPI:
    """Build the app. A ``database`` or ``knowledge`` service passed in stays the caller's:
    the app neither starts nor closes them. ``shutdown`` defaults to the environment's.
    ``chat_models`` defaults to the environment's providers; ``node_registry`` (default: the
    built-in types) is frozen here - register custom node types before calling."""
    settings = settings or ServerSettings()
    core = core_settings or get_core_settings()
    owns_database = database is None
    db = database or Database.from_settings(core)
    owns_knowledge = knowledge is None
    knowledge = knowledge or KnowledgeService(db)
    credentials = Credentials.from_settings(settings, core.data_dir)
    chat_models = chat_models or DeferredChatModelRegistry()
    state = AppState(
        settings=settings,
        core_settings=core,
        database=db,
        credentials=credentials,
        node_registry=(node_registry or _default_registry()).freeze(),
        knowledge=knowledge,
        chat_models=chat_models,
        graph_resources=GraphResources(chat_models),
    )
    record_timeout_s = (shutdown or ShutdownSettings()).record_timeout_s

    async def close_chat() -> None:
        service = state.extras.get(chat.CHAT_SERVICE)
        if isinstance(service, ChatService):
            await service.close(record_timeout_s)
            await service.runtime.aclose()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if owns_database:
                stack.push_async_callback(db.dispose)
            await ensure_database_ready(db)
            if owns_knowledge:
                state.knowledge.start()
                stack.push_async_callback(state.knowledge.close)
            for hook in startup_hooks:
                await hook(state, stack)
            # Pushed last, so it runs first at shutdown: the records need the database.
            stack.push_async_callback(close_chat)
            log.info("SnapAgent API ready (database: %s)", db.safe_url)
            yield

    app = FastAPI(
        title="SnapAgent API",
        summary="Self-hostable backend for RAG chatbots with versioned, port-based workflows.",
        version=version("snapagent"),
        lifespan=lifespan,
        # Served from this installation by install_docs_ui, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.snapagent = state
    install_error_handlers(app)
    # Enforced while the body streams in, so an oversized upload is never read whole.
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=knowledge.settings.max_upload_bytes + _MULTIPART_OVERHEAD
    )
    # Request ids, logs, metrics, traces, CORS, rate limits, the JSON body limit.
    install_observability(app, state, observability, rate_limits)

    # Every router, in one list. Keep it here so the API surface is visible at a glance.
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(readiness.router)
    app.include_router(auth.router)
    app.include_router(api_keys.router)
    app.include_router(bots.router)
    app.include_router(workflow_versions.router)
    app.include_router(node_types.router)
    app.include_router(knowledge_bases.router)
    app.include_router(chat.router)
    app.include_router(sessions.router)
    app.include_router(executions.router)
    app.include_router(migration.router)
    install_docs_ui(app)
    # The web console answers what no route above does (GET, outside the API's paths).
    install_console(app, console)
    return app
