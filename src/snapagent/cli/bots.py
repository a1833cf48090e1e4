"""`snapagent bots ...`: bots and their versions from the command line, as the API shows them.

    snapagent bots list                         # id, name, live version, draft
    snapagent bots show Support                 # the bot and every version, the draft first
    snapagent bots publish Support              # publish its draft
    snapagent bots rollback Support 2           # version 2 live again (as the next number)
    snapagent bots show Support --json --as ada@example.com

A bot is named by id or by name (a name several of your bots share is refused with their ids);
a version by number or id. Every command acts as one account (`snapagent.cli.acting`) with the
API's owner checks and the API's validation: publishing an invalid draft prints every problem
and exits 1. ``--json`` prints what the API answers.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from snapagent.cli.acting import AsOption, run_as
from snapagent.cli.tables import wide_console
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.errors import GraphValidationError, NotFoundError
from snapagent.llm.lazy import DeferredChatModelRegistry
from snapagent.nodes import default_registry
from snapagent.services.bots import BotService
from snapagent.services.graph_resources import GraphResources
from snapagent.workflow.services import ChatModelProvider

__all__ = ["BotArg", "JsonOption", "bot_service", "chat_models", "register"]

bots_app = typer.Typer(help="Bots and their versions: list, show, publish, roll back.")

BotArg = Annotated[str, typer.Argument(metavar="BOT", help="Bot id or name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (as the API answers).")]


def chat_models() -> ChatModelProvider:
    """The chat model providers drafts are validated against and chats run with (the
    environment's, as the server's; tests replace this)."""
    return DeferredChatModelRegistry()


def bot_service(session: Any, *, check_models: bool = False) -> BotService:
    resources = GraphResources(chat_models() if check_models else None)
    return BotService(session, default_registry(), resources)


def _bot_json(bot: Bot) -> dict[str, Any]:
    """A bot as the API shows it (the API is imported on use: not for `snapagent --help`)."""
    from snapagent.api.routes.bots import bot_public

    shown: dict[str, Any] = bot_public(bot).model_dump(mode="json")
    return shown


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _version_json(version: BotWorkflowVersion) -> dict[str, Any]:
    from snapagent.api.schemas.workflow_versions import VersionSummary  # see _bot_json

    return VersionSummary.model_validate(version, from_attributes=True).model_dump(mode="json")


def _version_name(version: BotWorkflowVersion) -> str:
    if version.version_number is None:
        return f"the draft (revision {version.revision})"
    return f"version {version.version_number}"


@bots_app.command("list")
def list_(as_user: AsOption = None, as_json: JsonOption = False) -> None:
    """List your bots, newest first, with the version that is live."""

    async def action(db: Database, user: User) -> list[dict[str, Any]]:
        async with db.session() as session:
            bots = bot_service(session)
            rows: list[dict[str, Any]] = []
            cursor: str | None = None
            while True:
                page, cursor = await bots.list_bots(user, cursor=cursor)
                for bot in page:
                    live = await bots.versions.published(bot.id)
                    draft = await bots.versions.current_draft(user, bot.id)
                    rows.append(
                        {
                            **_bot_json(bot),
                            "live_version": live.version_number if live else None,
                            "draft_id": draft.id if draft else None,
                        }
                    )
                if cursor is None:
                    return rows

    rows = run_as(as_user, action)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        typer.echo("no bots yet (create one in the console or with POST /api/v1/bots)")
        return
    table = Table("id", "name", "live", "draft", "engine", "created")
    for row in rows:
        live = "-" if row["live_version"] is None else f"v{row['live_version']}"
        engine = "v2" if row["use_workflow_v2"] else "v1"
        table.add_row(
            row["id"], row["name"], live, "yes" if row["draft_id"] else "-", engine,
            row["created_at"][:19],
        )  # fmt: skip
    wide_console().print(table)


@bots_app.command("show")
def show(bot: BotArg, as_user: AsOption = None, as_json: JsonOption = False) -> None:
    """Show a bot and its versions: the draft first, then newest first."""

    async def action(db: Database, user: User) -> dict[str, Any]:
        async with db.session() as session:
            bots = bot_service(session)
            found = await bots.resolve(user, bot)
            versions: list[BotWorkflowVersion] = []
            cursor: str | None = None
            while True:
                page, cursor = await bots.versions.list_versions(user, found.id, cursor=cursor)
                versions += page
                if cursor is None:
                    break
            return {
                **_bot_json(found),
                "versions": [_version_json(v) for v in versions],
            }

    shown = run_as(as_user, action)
    if as_json:
        _echo_json(shown)
        return
    typer.echo(f"{shown['name']} ({shown['id']})")
    for key in ("description", "default_model", "knowledge_base_ids", "use_workflow_v2"):
        typer.echo(f"  {key}: {shown[key]}")
    table = Table("version", "status", "source", "revision", "published", "note", "id")
    for v in shown["versions"]:
        number = "draft" if v["version_number"] is None else str(v["version_number"])
        published = (v["published_at"] or "-")[:19]
        table.add_row(
            number, v["status"], v["source"], str(v["revision"]), published, v["note"], v["id"]
        )
    wide_console().print(table)


def _every_problem(exc: GraphValidationError) -> GraphValidationError:
    """The error with one line per problem, as the CLI prints it."""
    lines = [exc.message]
    for problem in exc.problems:
        where = problem.get("path") or problem.get("node_id") if isinstance(problem, dict) else ""
        message = problem.get("message") if isinstance(problem, dict) else problem
        lines.append(f"  - {where}: {message}" if where else f"  - {message}")
    return GraphValidationError(exc.problems, "\n".join(lines))


@bots_app.command("publish")
def publish(
    bot: BotArg,
    as_user: AsOption = None,
    revision: Annotated[
        int | None,
        typer.Option("--revision", min=1, metavar="N", help="Only if the draft is at revision N."),
    ] = None,
) -> None:
    """Publish the bot's draft (validated first: every problem is printed)."""

    async def action(db: Database, user: User) -> tuple[str, int | None]:
        async with db.session() as session:
            bots = bot_service(session, check_models=True)
            found = await bots.resolve(user, bot)
            draft = await bots.versions.current_draft(user, found.id)
            if draft is None:
                raise NotFoundError(
                    f"bot {found.name!r} has no draft to publish (edit one in the console, or "
                    "roll back to an earlier version: snapagent bots rollback BOT N)"
                )
            try:
                published = await bots.versions.publish(user, found.id, draft.id, revision=revision)
            except GraphValidationError as exc:
                raise _every_problem(exc) from exc
            return found.name, published.version_number

    name, number = run_as(as_user, action)
    typer.echo(f"published {name!r} version {number}: it answers chats now")


@bots_app.command("rollback")
def rollback(
    bot: BotArg,
    version: Annotated[str, typer.Argument(metavar="VERSION", help="Version number or id.")],
    as_user: AsOption = None,
    note: Annotated[
        str | None, typer.Option("--note", metavar="TEXT", help="Why (kept in the history).")
    ] = None,
) -> None:
    """Make an earlier version live again at once (published as the next number)."""

    async def action(db: Database, user: User) -> tuple[str, BotWorkflowVersion, str]:
        async with db.session() as session:
            bots = bot_service(session, check_models=True)
            found = await bots.resolve(user, bot)
            if version.isdigit():
                target = await bots.versions.numbered(user, found.id, int(version))
            else:
                target = await bots.versions.get(user, found.id, version)
            try:
                live = await bots.versions.rollback(user, found.id, target.id, note=note)
            except GraphValidationError as exc:
                raise _every_problem(exc) from exc
            return found.name, live, _version_name(target)

    name, live, target = run_as(as_user, action)
    typer.echo(f"{name!r}: {target} is live again as version {live.version_number} ({live.note})")


def register(app: typer.Typer) -> None:
    app.add_typer(bots_app, name="bots", no_args_is_help=True)
