"""`snapagent db ...`: apply and inspect the packaged database migrations.

``snapagent db upgrade`` brings the database named by ``DATABASE_URL`` (or the embedded SQLite
file under ``SNAPAGENT_DATA_DIR``) to the newest schema; run it as a deploy step for
PostgreSQL. ``db current`` prints the revision the database is at, ``db history`` lists them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer

from snapagent.db import migrate
from snapagent.db.session import Database
from snapagent.errors import SnapAgentError
from snapagent.settings import CoreSettings

__all__ = ["register", "run_with_database"]

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
T = TypeVar("T")


def run_with_database(action: Callable[[Database], Awaitable[T]]) -> T:
    """Run `action` on the configured database, then close it; errors become messages."""

    async def run() -> T:
        db = Database.from_settings(CoreSettings())
        try:
            return await action(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except SnapAgentError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc


@db_app.command("upgrade")
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: the newest)."),
) -> None:
    """Apply migrations up to REVISION."""

    async def action(db: Database) -> str | None:
        await db.check()
        await migrate.upgrade(db, revision)
        return await migrate.current_revision(db)

    current = run_with_database(action)
    typer.echo(f"database is at revision {current}")


@db_app.command("downgrade")
def downgrade(
    revision: str = typer.Argument(..., help="Target revision, or 'base' to drop everything."),
) -> None:
    """Revert migrations down to REVISION (destructive: data in dropped tables is lost)."""

    async def action(db: Database) -> str | None:
        await db.check()
        await migrate.downgrade(db, revision)
        return await migrate.current_revision(db)

    current = run_with_database(action)
    typer.echo(f"database is at revision {current or 'base (empty)'}")


@db_app.command("current")
def current() -> None:
    """Print the revision the database is at, and whether that is the newest."""

    async def action(db: Database) -> str | None:
        await db.check()
        return await migrate.current_revision(db)

    revision = run_with_database(action)
    heads = migrate.head_revisions()
    state = "up to date" if revision in heads else f"behind (newest: {', '.join(heads)})"
    typer.echo(f"{revision or 'base (empty)'} - {state}")


@db_app.command("history")
def history() -> None:
    """List the migrations, newest first."""
    for info in migrate.history():
        marker = " (head)" if info.is_head else ""
        typer.echo(f"{info.revision}{marker} <- {info.down_revision or 'base'}: {info.message}")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
