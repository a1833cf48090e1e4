"""`snapagent serve`: run the HTTP API on uvicorn.

    snapagent serve                          # 127.0.0.1:8000, SQLite under ./data
    snapagent serve --host 0.0.0.0 --port 9000 --workers 4

Migrations of the embedded SQLite database are applied once here, before any worker starts
(workers then find the schema at head). PostgreSQL must be migrated by the operator
(``snapagent db upgrade``); serve refuses to start on a schema that is behind.

Graceful shutdown (SIGTERM, as ECS sends it before SIGKILL; Ctrl+C): uvicorn stops accepting
connections and lets in-flight requests - streamed chats included - finish for up to
``--graceful-timeout`` seconds (``SNAPAGENT_GRACEFUL_TIMEOUT_S``, default 20); whatever is still
running then is cancelled, and the app's lifespan shutdown (``create_app``) waits for those chat
runs to be recorded ``cancelled`` before it closes the database. Keep the grace period below the
orchestrator's kill delay (ECS ``stopTimeout``, default 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from snapagent.cli.worker_sockets import SocketPerWorker, bind_reuse_port, supports_reuse_port
from snapagent.db.migrate import ensure_database_ready
from snapagent.db.session import Database
from snapagent.errors import SnapAgentError
from snapagent.observability.logging import process_log_config, process_logging
from snapagent.private_files import secure_data_dir
from snapagent.server_settings import ServerSettings, ShutdownSettings, resolve_jwt_secret
from snapagent.settings import CoreSettings
from snapagent.startup_checks import ensure_startable

if TYPE_CHECKING:  # the app is imported when a server is built, not for `snapagent --help`
    from fastapi import FastAPI

    from snapagent.api.state import AppState

__all__ = [
    "UVICORN_HTTP",
    "UVICORN_LOOP",
    "HostOption",
    "PortOption",
    "ShutdownSettings",
    "create_server_app",
    "prepare",
    "register",
    "run_server",
]

log = logging.getLogger(__name__)

_WORKER_HEALTHCHECK_S = 60

UVICORN_LOOP, UVICORN_HTTP = "uvloop", "httptools"
"""uvicorn's C event loop and HTTP parser, named rather than left to "auto" (which takes
whatever happens to be installed): both are pinned dependencies, so a missing one fails at start
instead of silently serving on the slower pure-Python pair. `bench/http.py` runs its floor app
on the same pair."""


async def freeze_startup_heap(state: AppState, stack: AsyncExitStack) -> None:
    """A startup hook: move everything built at startup out of the garbage collector's reach,
    and collect less often.

    Those objects (about 340k: FastAPI, SQLAlchemy, the node types...) live as long as the
    process, yet every full collection - set off by any request that allocates a lot, such as
    parsing a big graph - walked all of them on the event loop, stalling every request for up
    to a second on a busy machine. Frozen, a full collection only sees what requests create.

    A recorded chat turn still set off about a third of a young collection (Python collects the
    youngest generation every 700 new container objects, an older one every 10th of those):
    measured on a worker under chat load, 170-240 ms of collection per 2 s (~1,900 turns, a
    tenth of the event loop's CPU), of which full collections (10-25 ms each, 4-5 per 2 s) and
    middle ones were two thirds. At ``gc_young_threshold`` 10,000 it was 85-105 ms and no full
    collection in those windows (docs/performance.md item 12). The garbage left between
    collections (reference cycles only: the rest is freed at once) stays bounded by the count.
    """
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(state.settings.gc_young_threshold, middle, old)


def create_server_app() -> FastAPI:
    """The app `snapagent serve` runs (each worker builds its own): settings from the
    environment (the app's lifespan closes the chat service at shutdown)."""
    from snapagent.api.app import create_app

    return create_app(ServerSettings(), startup_hooks=(freeze_startup_heap,))


async def _ready(core: CoreSettings) -> str:
    db = Database.from_settings(core)
    try:
        await ensure_database_ready(db)
        return db.safe_url
    finally:
        await db.dispose()


def prepare(settings: ServerSettings, core: CoreSettings) -> str:
    """Everything that must happen once per installation before workers start.

    Returns the (password-free) database URL; raises our errors with a clear message.
    """
    secure_data_dir(core.data_dir)  # what an older version or an operator left readable
    # Outside the embedded default, refuse a missing secret or database before creating any.
    asyncio.run(ensure_startable(settings, core))
    resolve_jwt_secret(settings, core.data_dir)  # creates the shared secret file once
    return asyncio.run(_ready(core))


def run_server(
    settings: ServerSettings,
    *,
    log_level: str = "info",
    shutdown: ShutdownSettings | None = None,
) -> None:
    """Serve until interrupted (Ctrl+C / SIGTERM shut down gracefully, see the module doc)."""
    grace = (shutdown or ShutdownSettings()).graceful_timeout_s
    # Whatever the server (and its workers, which inherit this) creates is private: the data
    # directory holds every account's documents and transcripts.
    os.umask(0o077)
    if settings.workers == 1:
        from snapagent.api.app import create_app

        app = create_app(settings, shutdown=shutdown, startup_hooks=(freeze_startup_heap,))
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            log_config=process_log_config(),
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_graceful_shutdown=grace,
            loop=UVICORN_LOOP,
            http=UVICORN_HTTP,
        )
        return
    # Several processes: each builds its own app from the environment through the factory.
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_level": log_level,
        "log_config": process_log_config(),
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "timeout_graceful_shutdown": grace,
        # A spawned worker imports the whole CLI before it can answer the supervisor's ping;
        # on a busy 2-core machine that can pass uvicorn's 5 s default and get it killed.
        "timeout_worker_healthcheck": _WORKER_HEALTHCHECK_S,
        "loop": UVICORN_LOOP,
        "http": UVICORN_HTTP,
    }
    if not supports_reuse_port() or settings.port == 0:
        uvicorn.run("snapagent.cli.serve:create_server_app", factory=True, **options)
        return
    # A listening socket per worker, so that connections spread over them (worker_sockets).
    config = uvicorn.Config("snapagent.cli.serve:create_server_app", factory=True, **options)
    try:
        sockets = [bind_reuse_port(settings.host, settings.port) for _ in range(settings.workers)]
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", settings.host, settings.port, exc)
        raise SystemExit(STARTUP_FAILURE) from exc
    log.info("Uvicorn running on http://%s:%s, a socket per worker", settings.host, settings.port)
    with contextlib.suppress(KeyboardInterrupt):
        SocketPerWorker(
            config, sockets, lambda: bind_reuse_port(settings.host, settings.port)
        ).run()


HostOption = Annotated[
    str | None, typer.Option(metavar="HOST", help="Interface to bind (default 127.0.0.1).")
]
PortOption = Annotated[int | None, typer.Option(metavar="PORT", help="TCP port (default 8000).")]


def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[
        int | None, typer.Option(metavar="N", help="Worker processes (default 1).")
    ] = None,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn log level.")] = "info",
    graceful_timeout: Annotated[
        int | None,
        typer.Option(
            metavar="SECONDS",
            help="Seconds in-flight requests may finish on SIGTERM (default 20).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    overrides = {
        k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None
    }
    try:
        # The environment first, then the command line on top, validated as one.
        settings = ServerSettings.model_validate({**ServerSettings().model_dump(), **overrides})
        core = CoreSettings()
        grace = {} if graceful_timeout is None else {"graceful_timeout_s": graceful_timeout}
        shutdown = ShutdownSettings.model_validate({**ShutdownSettings().model_dump(), **grace})
        log_config = process_log_config()
    except ValueError as exc:  # pydantic: an out-of-range option or environment value
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    # Our log handler from the first line on (uvicorn's own lines included; see run_server).
    with process_logging(log_config):
        try:
            database = prepare(settings, core)
        except SnapAgentError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(code=1) from exc
        log.info(
            "SnapAgent API on http://%s:%s (docs: /docs, database: %s, workers: %s)",
            settings.host,
            settings.port,
            database,
            settings.workers,
        )
        run_server(settings, log_level=log_level, shutdown=shutdown)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
