"""`snapagent migrate-workflows`: move legacy (V1) bots to V2 drafts, or roll one back.

    snapagent migrate-workflows --dry-run --verbose          # convert everything, write nothing
    snapagent migrate-workflows --limit 10                   # the next ten bots
    snapagent migrate-workflows --bot-id B1 --bot-id B2      # chosen bots
    snapagent migrate-workflows --rollback --bot-id B1       # back to V1 for B1

Exit codes: 0 all good, 1 at least one bot failed (each listed with its reason), 2 bad
arguments or an unusable database. ``scripts/migrate_workflows_to_v2.py`` runs this same code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snapagent.db.migrate import ensure_database_ready
from snapagent.db.session import Database
from snapagent.errors import SnapAgentError
from snapagent.services.migration import (
    BotOutcome,
    MigrationReport,
    RollbackResult,
    WorkflowMigrationService,
    outcome_line,
)
from snapagent.settings import CoreSettings

__all__ = ["migrate_workflows", "register", "run_cli"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


async def _open(database_url: str | None) -> Database:
    db = Database(database_url) if database_url else Database.from_settings(CoreSettings())
    try:
        # Only check the schema: the migration tool must never change it (a dry run writes
        # nothing at all); `snapagent db upgrade` is the step that does.
        await ensure_database_ready(db, auto_upgrade=False)
    except BaseException:
        await db.dispose()
        raise
    return db


async def _migrate(
    database_url: str | None,
    *,
    dry_run: bool,
    limit: int | None,
    bot_ids: Sequence[str],
    verbose: bool,
    console: Console,
    quiet: bool,
) -> MigrationReport:
    db = await _open(database_url)
    try:
        service = WorkflowMigrationService(db)
        # With --limit the run stops early at an unknown point: show a count, not a bar.
        total = None if limit is not None else await service.count_candidates(bot_ids or None)
        with Progress(
            TextColumn("[bold]migrating" + (" (dry run)" if dry_run else "")),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            # A bar only makes sense on a terminal; logs get the summary (and --verbose lines).
            disable=quiet or not console.is_terminal,
            transient=True,
        ) as progress:
            task = progress.add_task("bots", total=total or None)

            def seen(outcome: BotOutcome) -> None:
                progress.advance(task)
                if verbose and not quiet:
                    style = {"failed": "red", "skipped": "yellow"}.get(outcome.status, "green")
                    progress.console.print(
                        outcome_line(outcome),
                        style=style,
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )

            return await service.migrate(
                dry_run=dry_run, limit=limit, bot_ids=list(bot_ids) or None, on_outcome=seen
            )
    finally:
        await db.dispose()


async def _rollback(database_url: str | None, bot_ids: Sequence[str]) -> list[RollbackResult]:
    db = await _open(database_url)
    try:
        service = WorkflowMigrationService(db)
        return [await service.rollback(bot_id) for bot_id in dict.fromkeys(bot_ids)]
    finally:
        await db.dispose()


def run_cli(
    *,
    dry_run: bool = False,
    verbose: bool = False,
    limit: int | None = None,
    bot_ids: Sequence[str] = (),
    database_url: str | None = None,
    rollback: bool = False,
    as_json: bool = False,
    console: Console | None = None,
) -> int:
    """Run the command and return its exit code (the typer command and the script share it)."""
    console = console or Console(soft_wrap=True)
    if rollback:
        if not bot_ids:
            console.print("error: --rollback needs at least one --bot-id", style="red")
            return EXIT_USAGE
        if dry_run or limit is not None:
            console.print("error: --rollback takes only --bot-id and --database-url", style="red")
            return EXIT_USAGE
    try:
        if rollback:
            for result in asyncio.run(_rollback(database_url, bot_ids)):
                v1 = (
                    "V1 workflow edited after the migration kept"
                    if result.kept_newer_v1
                    else "V1 workflow restored"
                )
                console.print(
                    f"{result.bot_id}: {v1}, V2 off, "
                    f"{result.drafts_removed} migration draft(s) removed",
                    markup=False,
                )
            return 0
        report = asyncio.run(
            _migrate(
                database_url,
                dry_run=dry_run,
                limit=limit,
                bot_ids=bot_ids,
                verbose=verbose,
                console=console,
                quiet=as_json,
            )
        )
    except SnapAgentError as exc:
        console.print(f"error: {exc.message}", style="red", markup=False)
        return EXIT_USAGE
    except KeyboardInterrupt:
        # Every bot is its own transaction: what finished is kept, the rest is untouched.
        console.print(
            "interrupted: bots already migrated stay migrated; run again to continue",
            style="yellow",
        )
        return EXIT_INTERRUPTED
    _print_report(report, console, as_json=as_json)
    return EXIT_FAILED if report.failed else 0


def _print_report(report: MigrationReport, console: Console, *, as_json: bool) -> None:
    if as_json:
        summary = report.summary() | {
            "failures": [{"bot_id": o.bot_id, "reason": o.reason} for o in report.failures]
        }
        console.print(
            json.dumps(summary, ensure_ascii=False, indent=2), markup=False, soft_wrap=True
        )
        return
    s = report.summary()
    verb = "would convert" if report.dry_run else "converted"
    console.print(
        f"{'dry run: ' if report.dry_run else ''}scanned {s['scanned']}, {verb} "
        f"{s['converted']}, skipped {s['skipped']}, failed {s['failed']} "
        f"in {s['elapsed_s']:.2f} s",
        style="red" if report.failed else "green",
        markup=False,
    )
    for outcome in report.failures:
        console.print(f"  failed {outcome.bot_id}: {outcome.reason}", markup=False, soft_wrap=True)


def migrate_workflows(
    dry_run: bool = typer.Option(False, "--dry-run", help="Convert and validate; write nothing."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print one line per bot."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        metavar="N",
        help="Attempt at most N bots (already migrated ones don't count).",
    ),
    bot_id: list[str] | None = typer.Option(  # noqa: B008
        None, "--bot-id", metavar="ID", help="Only this bot (repeatable)."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL; default DATABASE_URL or the embedded SQLite.",
    ),
    rollback: bool = typer.Option(
        False, "--rollback", help="Restore V1 for the --bot-id bots, turn V2 off, drop the draft."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Convert legacy (V1) workflows into V2 drafts (use_workflow_v2 is left off)."""
    code = run_cli(
        dry_run=dry_run,
        verbose=verbose,
        limit=limit,
        bot_ids=bot_id or [],
        database_url=database_url,
        rollback=rollback,
        as_json=as_json,
    )
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("migrate-workflows")(migrate_workflows)
