"""`snapagent serve`: run the HTTP API on uvicorn.

    snapagent serve                          # 127.0.0.1:8000, SQLite under ./data
    snapagent serve --host 0.0.0.0 --port 9000 --workers 4

Migrations of the embedded SQLite database are applied once here, before any worker starts
(workers then find the schema at head). PostgreSQL must be migrated by the operator
(``snapagent db upgrade``); serve refuses to start on a schema that is behind.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from snapagent.db.migrate import ensure_database_ready
from snapagent.db.session import Database
from snapagent.errors import SnapAgentError
from snapagent.server_settings import ServerSettings, resolve_jwt_secret
from snapagent.settings import CoreSettings
from snapagent.startup_checks import ensure_startable

__all__ = ["prepare", "register", "run_server"]


_WORKER_HEALTHCHECK_S = 60


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
    # Outside the embedded default, refuse a missing secret or database before creating any.
    asyncio.run(ensure_startable(settings, core))
    resolve_jwt_secret(settings, core.data_dir)  # creates the shared secret file once
    return asyncio.run(_ready(core))


def run_server(settings: ServerSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl+C / SIGTERM shut down gracefully)."""
    if settings.workers == 1:
        from snapagent.api.app import create_app

        uvicorn.run(
            create_app(settings), host=settings.host, port=settings.port, log_level=log_level
        )
        return
    # Several processes: each builds its own app from the environment through the factory.
    uvicorn.run(
        "snapagent.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
        # A spawned worker imports the whole CLI before it can answer the supervisor's ping;
        # on a busy 2-core machine that can pass uvicorn's 5 s default and get it killed.
        timeout_worker_healthcheck=_WORKER_HEALTHCHECK_S,
    )


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    overrides = {
        k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None
    }
    try:
        # The environment first, then the command line on top, validated as one.
        settings = ServerSettings.model_validate({**ServerSettings().model_dump(), **overrides})
        core = CoreSettings()
        database = prepare(settings, core)
    except SnapAgentError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    except ValueError as exc:  # pydantic: an out-of-range option or environment value
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(
        f"SnapAgent API on http://{settings.host}:{settings.port} (docs: /docs, database: "
        f"{database}, workers: {settings.workers})"
    )
    run_server(settings, log_level=log_level)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
