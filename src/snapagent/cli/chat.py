"""`snapagent chat BOT "message"`: one chat turn, streamed to the terminal as it is produced.

    snapagent chat Support "How do I reset my password?"
    snapagent chat Support "and on mobile?" --session 3f2a...    # continue that conversation

The turn runs exactly as ``POST /api/v1/chat`` runs it - the app `create_app` builds (same
providers, knowledge, limits, recording) - as one account (`snapagent.cli.acting`): the bot's
published version answers (or its V1 workflow), the run is recorded and counted like any chat.
The answer goes to standard output as it streams; the session and run ids, and the server's
log lines, to standard error. A failed turn prints its problem and exits 1.
"""

from __future__ import annotations

import contextlib
import sys
from contextlib import aclosing
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from snapagent.cli import bots as bots_cli
from snapagent.cli.acting import AsOption, run_as
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.observability.settings import ObservabilitySettings
from snapagent.services.bots import BotService

if TYPE_CHECKING:
    from snapagent.api.state import AppState

__all__ = ["register"]


def _quiet_logs() -> ObservabilitySettings:
    """The environment's settings, logging warnings and errors only unless a level was set
    (a terminal chat is not a server's log)."""
    settings = ObservabilitySettings()
    if "log_level" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"log_level": "WARNING"})


def _problem(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) else f"{type(exc).__name__}: {exc}"


async def _turn(
    db: Database, user: User, bot: str, message: str, session_id: str | None, out: TextIO
) -> dict[str, Any]:
    """Run the turn on an app of this process; the final ``message`` event's data."""
    # Imported here, not with the CLI: the whole API is not needed for `snapagent --help`.
    from snapagent.api.app import create_app
    from snapagent.services.chat import ChatError
    from snapagent.services.knowledge import KnowledgeService

    # A knowledge service of our own, never started: retrieval works, but this short-lived
    # process takes no ingestion work from the server's queue.
    knowledge = KnowledgeService(db)
    app = create_app(
        database=db,
        knowledge=knowledge,
        chat_models=bots_cli.chat_models(),
        observability=_quiet_logs(),
    )
    state: AppState = app.state.snapagent
    final: dict[str, Any] = {}
    streamed = False
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(knowledge.close)
        await stack.enter_async_context(app.router.lifespan_context(app))
        async with db.session() as session:
            found = await BotService(session, state.node_registry).resolve(user, bot)
            turn = await state.chat.prepare(session, user, found.id, message, session_id)
        async with aclosing(state.chat.stream(turn)) as events:
            async for item in events:
                if isinstance(item, ChatError):
                    run = f" (run {item.run_id})" if item.run_id else ""
                    typer.echo(f"error: {_problem(item.error)}{run}", err=True)
                    raise typer.Exit(code=1)
                if item.event == "text":
                    out.write(str(item.data.get("text", "")))
                    out.flush()
                    streamed = True
                elif item.event == "message":
                    final = item.data
    if not streamed:  # a graph that streams nothing still has an answer
        out.write(str(final.get("answer", "")))
    out.write("\n")
    out.flush()
    return final


def chat(
    bot: Annotated[str, typer.Argument(metavar="BOT", help="Bot id or name.")],
    message: Annotated[str, typer.Argument(metavar="MESSAGE")],
    as_user: AsOption = None,
    session_id: Annotated[
        str | None,
        typer.Option("--session", metavar="ID", help="Continue this session (default: a new one)."),
    ] = None,
) -> None:
    """Chat with a bot's live version; the answer streams to standard output."""
    out = sys.stdout
    # The app logs to standard output; here that is the answer's place, so logs go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        final = run_as(as_user, lambda db, user: _turn(db, user, bot, message, session_id, out))
    version = final.get("version")
    typer.echo(
        f"session {final.get('session_id')} · run {final.get('run_id')} · "
        f"{'v1 engine' if version is None else f'version {version}'}",
        err=True,
    )


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
