"""The FastAPI application factory.

    app = create_app()                       # embedded defaults: SQLite under ./data
    app = create_app(settings=ServerSettings(jwt_secret=...), database=Database(url))

This is the composition root: every service is built here, once, typed (`AppState`) - the
knowledge service, the chat model providers, the engine runtime with its frozen registries, the
chat service with the observers of every run (recording, metrics, traces) - and so is the
middleware stack (body limits, rate limits, CORS, request context). Nothing is built lazily by a
route.

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
from fastapi.middleware.cors import CORSMiddleware
from fastapi.telemetry import TelemetryConfig
from starlette.routing import Route

from snapagent.api.body_limit import BodySizeLimitMiddleware
from snapagent.api.console import ConsoleSettings, install_console
from snapagent.api.docs_ui import install_docs_ui
from snapagent.api.edge import EdgeFastAPI
from snapagent.api.errors import install_error_handlers
from snapagent.api.mcp_server import MCP_PATH, McpEndpoint
from snapagent.api.openai import routes as openai_compatible
from snapagent.api.openapi import install_openapi
from snapagent.api.routes import (
    api_keys,
    auth,
    bot_transfer,
    bots,
    chat,
    debugging,
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
from snapagent.db.rate_limiter import DatabaseRateLimiter
from snapagent.db.session import Database
from snapagent.interop.converter import DocumentConverter
from snapagent.interop.settings import get_import_settings
from snapagent.knowledge.file_reader import IsolatedDocumentReader
from snapagent.llm.lazy import DeferredChatModelRegistry
from snapagent.nodes.settings import get_node_settings
from snapagent.observability.install import install_observability
from snapagent.observability.middleware import REQUEST_ID_HEADER
from snapagent.observability.runs import ObservedChatModels
from snapagent.observability.settings import ObservabilitySettings
from snapagent.ratelimit.middleware import RateLimitMiddleware
from snapagent.ratelimit.settings import RateLimitSettings
from snapagent.sandbox.service import CodeSandbox
from snapagent.sandbox.settings import get_code_sandbox_settings
from snapagent.server_settings import ServerSettings, ShutdownSettings
from snapagent.services.account_guard import AccountGuard
from snapagent.services.accounts import CredentialCache, Credentials
from snapagent.services.bot_calls import PublishedBotRunner
from snapagent.services.chat import ChatService, ChatSettings, LiveBotCache
from snapagent.services.executions import ExecutionSettings
from snapagent.services.graph_resources import GraphResources
from snapagent.services.knowledge import KnowledgeService
from snapagent.services.lookup_cache import LookupCache, LookupCacheSettings
from snapagent.services.run_recorder import RunRecorder
from snapagent.services.runtime import BotRuntime
from snapagent.settings import CoreSettings, get_core_settings
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.services import ChatModelProvider, Retriever

__all__ = ["ShutdownSettings", "StartupHook", "create_app"]

log = logging.getLogger(__name__)

# Multipart framing around an uploaded file; the file itself is checked against the exact limit.
_MULTIPART_OVERHEAD = 64 * 1024
# FastAPI's native OpenTelemetry off (SNAPAGENT_FASTAPI_TELEMETRY): no span, metric or log of
# its own, and no check of the global providers on every request.
_NO_FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

StartupHook = Callable[[AppState, AsyncExitStack], Awaitable[None]]
"""Runs in the lifespan after the database is ready; registers its cleanup on the stack."""


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
    retriever: Retriever | None = None,
    chat_settings: ChatSettings | None = None,
    execution_settings: ExecutionSettings | None = None,
    startup_hooks: tuple[StartupHook, ...] = (),
    observability: ObservabilitySettings | None = None,
    rate_limits: RateLimitSettings | None = None,
    shutdown: ShutdownSettings | None = None,
    console: ConsoleSettings | None = None,
    lookup_cache: LookupCacheSettings | None = None,
) -> FastAPI:
    """Build the app: every service once, typed (see the module docstring).

    A ``database`` or ``knowledge`` service passed in stays the caller's: the app neither
    starts nor closes them. ``chat_models`` (default: the environment's providers) and
    ``retriever`` (default: the knowledge service's, which filters on the bot owner) are what
    chats run with - tests and benches pass scripted ones here. ``node_registry`` (default:
    the built-in types) is frozen: register custom node types before calling. Settings left
    out are read from the environment.
    """
    settings = settings or ServerSettings()
    core = core_settings or get_core_settings()
    owns_database = database is None
    db = database or Database.from_settings(core)
    owns_knowledge = knowledge is None
    knowledge = knowledge or KnowledgeService(db)
    credentials = Credentials.from_settings(settings, core.data_dir)
    chat_models = chat_models or DeferredChatModelRegistry()
    observability = observability or ObservabilitySettings()
    rate_limits = rate_limits or RateLimitSettings()
    record_timeout_s = (shutdown or ShutdownSettings()).record_timeout_s
    lookup_cache = lookup_cache or LookupCacheSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if owns_database:
                stack.push_async_callback(db.dispose)
            await ensure_database_ready(db)
            # PostgreSQL: hear other replicas' changes (the caches are bypassed until then).
            await stack.enter_async_context(
                db.lookup_changes.listening(db.engine, check_s=lookup_cache.listen_check_s)
            )
            # Nothing optional is imported here: a provider's SDK loads on a thread at its
            # model's first call (snapagent.llm.lazy), the MCP SDK at the first agent run
            # with MCP tools or the first /mcp request - /health answers at once.
            if owns_knowledge:
                state.knowledge.start()
                stack.push_async_callback(state.knowledge.close)
            for hook in startup_hooks:
                await hook(state, stack)
            await stack.enter_async_context(mcp_endpoint.run())
            stack.push_async_callback(state.runtime.aclose)
            stack.push_async_callback(state.bot_import.close)
            # Pushed last, so it runs first at shutdown: the records need the database.
            stack.push_async_callback(state.chat.close, record_timeout_s)
            log.info("SnapAgent API ready (database: %s)", db.safe_url)
            yield

    # FastAPI with a leaner middleware stack and an indexed router (snapagent.api.edge).
    app = EdgeFastAPI(
        title="SnapAgent API",
        summary="Self-hostable backend for RAG chatbots with versioned, port-based workflows.",
        version=version("snapagent"),
        lifespan=lifespan,  # install_observability wraps it in the logging configuration
        # Served from this installation by install_docs_ui, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # FastAPI's documented switch: off, it skips its provider check on every request.
        telemetry=None if observability.fastapi_telemetry else _NO_FASTAPI_TELEMETRY,
    )
    install_error_handlers(app)
    # Middleware, innermost first (add_middleware wraps what is there). Each body limit is
    # enforced while the body streams in, so an oversized upload is never read whole.
    import_settings = get_import_settings()
    largest_upload = max(knowledge.settings.max_upload_bytes, import_settings.max_bytes)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=largest_upload + _MULTIPART_OVERHEAD,
        json_max_bytes=observability.json_body_max_bytes,
    )
    rate_limiter = None
    if rate_limits.enabled:
        rate_limiter = DatabaseRateLimiter(db, window_seconds=rate_limits.window_seconds)
        app.add_middleware(
            RateLimitMiddleware, limiter=rate_limiter, settings=rate_limits, credentials=credentials
        )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=observability.cors_methods,
            allow_headers=observability.cors_headers,
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=observability.cors_max_age,
        )
    # Outermost: request ids, access log and HTTP metrics see every answer (limits' too).
    reporting = install_observability(app, observability, secrets=[settings.jwt_secret])

    # The chat path: the engine with its registries, observed models, scoped retrieval, and
    # the isolated reader of files attached to a turn.
    node_settings = get_node_settings()
    runtime = BotRuntime(
        chat_models=ObservedChatModels(chat_models, reporting.metrics),
        retriever=retriever or knowledge.retriever,
        registry=node_registry or _default_registry(),
        # Its worker process starts only when a workflow first reads a file.
        documents=IsolatedDocumentReader.create(
            max_chars=node_settings.document_max_chars, timeout_s=node_settings.document_timeout_s
        ),
        # The code nodes' sandbox, one pool per app (zygotes start on the first code node),
        # closed at shutdown with the runtime.
        code_runner=CodeSandbox(get_code_sandbox_settings()),
    )
    recorder = RunRecorder(db.sessionmaker, execution_settings)
    # What every request would read again - its credential, its bot - kept while unchanged.
    on, ttl_s = lookup_cache.enabled, lookup_cache.ttl_s
    # Each kind is emptied by changes of its own kind only (a document upload keeps the keys).
    credential_cache: CredentialCache = LookupCache(
        db.lookup_changes,
        "credentials",
        max_entries=lookup_cache.credentials if on else 0,
        ttl_s=ttl_s,
    )
    bot_cache: LiveBotCache = LookupCache(
        db.lookup_changes, "bots", max_entries=lookup_cache.bots if on else 0, ttl_s=ttl_s
    )
    # Retrieval's knowledge-base rows, per (owner, knowledge base); new revisions empty it.
    knowledge.retriever.rows_cache = LookupCache(
        db.lookup_changes,
        "knowledge_bases",
        max_entries=lookup_cache.knowledge_bases if on else 0,
        ttl_s=ttl_s,
    )
    chat_service = ChatService(
        db,
        runtime,
        recorder,
        chat_settings,
        observers=[reporting.telemetry.for_run],
        bots=bot_cache,
    )
    # The agent's workflow tools: other published bots of the same owner, as nested runs.
    runtime.bind_bots(
        PublishedBotRunner(
            db, runtime, recorder, chat_service.group, observers=[reporting.telemetry.for_run]
        )
    )
    state = AppState(
        settings=settings,
        core_settings=core,
        database=db,
        credentials=credentials,
        account_guard=AccountGuard(db, settings),
        knowledge=knowledge,
        chat_models=chat_models,
        graph_resources=GraphResources(chat_models),
        runtime=runtime,
        chat=chat_service,
        observability=reporting,
        rate_limiter=rate_limiter,
        # Bot imports parse files in an isolated worker; it starts on the first import.
        bot_import=DocumentConverter.create(import_settings),
        credential_cache=credential_cache,
    )
    app.state.snapagent = state

    # Every router, in one list. Keep it here so the API surface is visible at a glance.
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(readiness.router)
    app.include_router(auth.router)
    app.include_router(api_keys.router)
    app.include_router(bot_transfer.router)
    app.include_router(bots.router)
    app.include_router(workflow_versions.router)
    app.include_router(node_types.router)
    app.include_router(knowledge_bases.router)
    app.include_router(chat.router)
    app.include_router(sessions.router)
    app.include_router(executions.router)
    app.include_router(debugging.router)
    app.include_router(migration.router)
    app.include_router(openai_compatible.router)
    chat_per_minute = rate_limits.chat_per_minute if rate_limits.enabled else 0
    mcp_endpoint = McpEndpoint(state, chat_per_minute=chat_per_minute)
    app.router.routes.append(Route(MCP_PATH, mcp_endpoint, methods=["GET", "POST", "DELETE"]))
    install_openapi(app, runtime.registry)
    install_docs_ui(app)
    # The web console answers what no route above does (GET, outside the API's paths).
    install_console(app, console)
    return app
