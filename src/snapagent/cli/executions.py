"""`snapagent executions ...`: maintenance of workflow execution records.

Examples: ``snapagent executions prune`` deletes runs older than
``SNAPAGENT_EXECUTIONS_RETENTION_DAYS`` (90); ``snapagent executions prune --older-than-days 30
--batch-size 200 --dry-run`` only counts what would go.
"""

from __future__ import annotations

import asyncio

import typer

from snapagent.db.migrate import ensure_database_ready
from snapagent.db.session import Database
from snapagent.errors import SnapAgentError
from snapagent.services.executions import ExecutionSettings, PruneReport, prune_runs
from snapagent.settings import CoreSettings

__all__ = ["register"]

executions_app = typer.Typer(help="Workflow execution records.", no_args_is_help=True)


async def _prune(older_than_days: int, batch_size: int, dry_run: bool) -> PruneReport:
    db = Database.from_settings(CoreSettings())
    try:
        await ensure_database_ready(db)
        return await prune_runs(
            db.sessionmaker,
            older_than_days=older_than_days,
            batch_size=batch_size,
            dry_run=dry_run,
        )
    finally:
        await db.dispose()


@executions_app.command("prune")
def prune(
    older_than_days: int | None = typer.Option(
        None,
        "--older-than-days",
        min=0,
        metavar="DAYS",
        help="Delete runs that started more than N days ago "
        "(default: SNAPAGENT_EXECUTIONS_RETENTION_DAYS, 90).",
    ),
    batch_size: int | None = typer.Option(
        None,
        "--batch-size",
        min=1,
        metavar="N",
        max=10_000,
        help="Runs deleted per transaction; small batches keep locks short.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
) -> None:
    """Delete old execution runs and their node executions, in short batches."""
    settings = ExecutionSettings()
    days = settings.retention_days if older_than_days is None else older_than_days
    size = settings.prune_batch_size if batch_size is None else batch_size
    try:
        report = asyncio.run(_prune(days, size, dry_run))
    except SnapAgentError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    cutoff = report.cutoff.isoformat(timespec="seconds")
    if report.dry_run:
        typer.echo(
            f"dry run: {report.runs} run(s) and {report.node_executions} node execution(s) "
            f"started before {cutoff} would be deleted"
        )
    else:
        typer.echo(
            f"deleted {report.runs} run(s) and {report.node_executions} node execution(s) "
            f"started before {cutoff} in {report.batches} batch(es)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(executions_app, name="executions")
