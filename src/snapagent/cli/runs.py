"""`snapagent runs ...`: a bot's workflow runs, and one run read step by step.

    snapagent runs list Support --status failed --trigger chat
    snapagent runs show 7f3c...          # one row per node, then each node's inputs and outputs
    snapagent runs show 7f3c... --json   # what GET .../workflow-executions/{run_id} answers

Values clipped when recorded end in ``…[_truncated: N chars]`` and are listed under
``truncated``. Acts as one account (`snapagent.cli.acting`): another account's run is "not
found", as over the API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from snapagent.cli.acting import AsOption, run_as
from snapagent.cli.bots import BotArg, JsonOption, bot_service
from snapagent.cli.tables import wide_console
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.pagination import MAX_PAGE_SIZE
from snapagent.db.session import Database
from snapagent.errors import NotFoundError
from snapagent.services.executions import ExecutionService, RunDetail, RunSummary

__all__ = ["register"]

runs_app = typer.Typer(help="Workflow runs: list a bot's, show one node by node.")


@runs_app.command("list")
def list_(
    bot: BotArg,
    as_user: AsOption = None,
    as_json: JsonOption = False,
    status: Annotated[
        str | None,
        typer.Option("--status", metavar="STATUS", help="succeeded, failed or cancelled."),
    ] = None,
    trigger: Annotated[
        str | None, typer.Option("--trigger", metavar="TRIGGER", help="chat or debug.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=MAX_PAGE_SIZE, metavar="N", help="At most N.")
    ] = 20,
) -> None:
    """List a bot's runs, newest first."""

    async def action(db: Database, user: User) -> list[RunSummary]:
        async with db.session() as session:
            found = await bot_service(session).resolve(user, bot)
            page = await ExecutionService(session).list_runs(
                found.id, limit=limit, status=status, trigger=trigger
            )
            return page.data

    runs = run_as(as_user, action)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
        return
    if not runs:
        typer.echo("no runs")
        return
    table = Table("run", "started", "version", "trigger", "status", "ms", "tokens", "error")
    for r in runs:
        version = "v1 engine" if r.version_number is None else f"v{r.version_number}"
        table.add_row(
            r.id, r.started_at.isoformat()[:19], version, r.trigger, r.status,
            f"{r.elapsed_ms:.0f}", str(r.total_tokens), escape((r.error or "")[:80]),
        )  # fmt: skip
    wide_console().print(table)


async def _owned_run(db: Database, user: User, run_id: str) -> RunDetail:
    async with db.session() as session:
        bot_id = await session.scalar(
            select(WorkflowExecutionRun.bot_id)
            .join(Bot, Bot.id == WorkflowExecutionRun.bot_id)
            .where(WorkflowExecutionRun.id == run_id, Bot.owner_id == user.id)
        )
        if bot_id is None:
            raise NotFoundError(f"workflow execution {run_id} not found")
        return await ExecutionService(session).get_run(bot_id, run_id)


def _value(value: Any) -> str:
    return escape(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID")],
    as_user: AsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run: a row per node (status, time, tokens, error), then its inputs/outputs."""
    run = run_as(as_user, lambda db, user: _owned_run(db, user, run_id))
    if as_json:
        typer.echo(run.model_dump_json(indent=2))
        return
    console = wide_console()
    version = "v1 engine" if run.version_number is None else f"version {run.version_number}"
    typer.echo(
        f"run {run.id} · {version} · {run.trigger} · {run.status} · {run.elapsed_ms:.0f} ms · "
        f"{run.total_tokens} tokens"
    )
    if run.rerun_of:
        typer.echo(f"replays run {run.rerun_of} from node {run.rerun_from_node}")
    if run.error:
        typer.echo(f"error: {run.error}")
    table = Table("#", "node", "type", "status", "ms", "tokens", "retries", "error")
    for node in run.nodes:
        scope = "".join(f" [{c}#{i}]" for c, i in node.scope or ())
        status = f"{node.status} (reused)" if node.reused else node.status
        table.add_row(
            str(node.index), escape(node.node_id + scope), node.node_type, status,
            f"{node.elapsed_ms:.0f}", str(node.input_tokens + node.output_tokens),
            str(node.retries), escape((node.error or "")[:100]),
        )  # fmt: skip
    console.print(table)
    for node in run.nodes:
        console.print(f"\n[bold]{escape(node.node_id)}[/bold] ({node.node_type}, {node.status})")
        console.print(f"inputs: {_value(node.inputs)}")
        console.print(f"outputs: {_value(node.outputs)}")
        if node.truncated:
            console.print(f"truncated when recorded: {', '.join(node.truncated)}")


def register(app: typer.Typer) -> None:
    app.add_typer(runs_app, name="runs", no_args_is_help=True)
