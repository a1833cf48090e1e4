"""`snapagent bots|chat|runs` on SQLite and PostgreSQL: the API's use cases, as a named account.

Through typer's CliRunner on the database ``DATABASE_URL`` names (what the server would use),
with a scripted chat model in place of the environment's providers.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.cli import bots as bots_cli
from snapagent.db.migrate import upgrade
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.nodes import default_registry
from snapagent.services.bots import BotService
from snapagent.testing import ScriptedChatModel, ScriptedChatModels

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fresh_process_logging")

ADA = "ada@example.com"
BOB = "bob@example.com"


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch, database_url: str) -> ScriptedChatModel:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("SNAPAGENT_CLI_OWNER", raising=False)
    scripted = ScriptedChatModel()
    monkeypatch.setattr(bots_cli, "chat_models", lambda: ScriptedChatModels(scripted))
    return scripted


def seed(database_url: str, *emails: str, bot: str | None = None) -> None:
    """The schema, accounts ``emails`` (no password: the CLI needs none), and maybe a bot of
    the first one with its generated draft (start -> llm -> end)."""

    async def run() -> None:
        db = Database(database_url)
        try:
            await upgrade(db)
            async with db.session() as session:
                users = [User(email=email) for email in emails]
                session.add_all(users)
                await session.commit()
                if bot is not None:
                    await BotService(session, default_registry()).create(users[0], name=bot)
        finally:
            await db.dispose()

    asyncio.run(run())


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok(*args: str) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def refused(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    return result.stderr


def test_publish_chat_show_the_run_and_roll_back(
    model: ScriptedChatModel, database_url: str
) -> None:
    seed(database_url, ADA, bot="Support")

    listed = json.loads(ok("bots", "list", "--json").stdout)
    assert [(b["name"], b["live_version"]) for b in listed] == [("Support", None)]
    assert listed[0]["draft_id"] is not None
    assert "Support" in ok("bots", "list").stdout

    assert "published 'Support' version 1" in ok("bots", "publish", "Support").stdout
    model.enqueue("Reset it under Settings.")
    chatted = ok("chat", "Support", "How do I reset my password?")
    assert chatted.stdout == "Reset it under Settings.\n"
    session_id, run_id = re.findall(r"session (\w+) · run (\w+) · version 1", chatted.stderr)[0]
    model.enqueue("On mobile too.")
    again = ok("chat", "Support", "and on mobile?", "--session", session_id)
    assert again.stdout == "On mobile too.\n"
    assert "How do I reset my password?" in str(model.requests[-1].messages)  # its history

    shown = ok("runs", "show", run_id)
    assert "succeeded" in shown.stdout
    for node in ("start", "llm", "end"):
        assert node in shown.stdout
    assert "Reset it under Settings." in shown.stdout  # the llm node's recorded output
    detail = json.loads(ok("runs", "show", run_id, "--json").stdout)
    assert [n["node_id"] for n in detail["nodes"]] == ["start", "llm", "end"]
    assert detail["trigger"] == "chat"
    listed_runs = json.loads(ok("runs", "list", "Support", "--json").stdout)
    assert len(listed_runs) == 2
    assert json.loads(ok("runs", "list", "Support", "--trigger", "debug", "--json").stdout) == []

    # A second publish, then back to version 1 in one step.
    versions = json.loads(ok("bots", "show", "Support", "--json").stdout)["versions"]
    assert [v["status"] for v in versions] == ["published"]
    with_support_bot(database_url, new_draft)
    assert "version 2" in ok("bots", "publish", "Support").stdout
    rolled = ok("bots", "rollback", "Support", "1", "--note", "v2 is slow")
    assert "version 1 is live again as version 3 (v2 is slow)" in rolled.stdout
    versions = json.loads(ok("bots", "show", "Support", "--json").stdout)["versions"]
    assert [(v["version_number"], v["status"], v["source"]) for v in versions] == [
        (3, "published", "rollback"),
        (2, "archived", "copy:1"),
        (1, "archived", "default"),
    ]
    assert "already the live version" in refused("bots", "rollback", "Support", "3")
    assert "has no version 9" in refused("bots", "rollback", "Support", "9")
    assert "no draft to publish" in refused("bots", "publish", "Support")


def with_support_bot(
    database_url: str, act: Callable[[BotService, User, str], Awaitable[Any]]
) -> None:
    """Run ``act(bots, ada, bot_id)`` on Ada's bot "Support", as the API would."""

    async def run() -> None:
        db = Database(database_url)
        try:
            async with db.session() as session:
                bots = BotService(session, default_registry())
                ada = await session.scalar(select(User).where(User.email == ADA))
                assert ada is not None
                await act(bots, ada, (await bots.resolve(ada, "Support")).id)
        finally:
            await db.dispose()

    asyncio.run(run())


async def new_draft(bots: BotService, ada: User, bot_id: str) -> None:
    await bots.versions.create_draft(ada, bot_id)  # a copy of the live version


async def invalid_draft(bots: BotService, ada: User, bot_id: str) -> None:
    graph = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "mystery", "type": "teleport"},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [],
    }
    draft = await bots.versions.current_draft(ada, bot_id)
    assert draft is not None
    await bots.versions.update_draft(ada, bot_id, draft.id, graph, revision=draft.revision)


def test_acting_account_is_named_or_the_only_one(
    model: ScriptedChatModel, database_url: str
) -> None:
    seed(database_url)
    assert "no account yet" in refused("bots", "list")

    seed(database_url, ADA, BOB)
    message = refused("bots", "list")
    assert "2 accounts: pick one with --as EMAIL" in message
    assert ADA in message
    assert BOB in message
    assert "no account 'carol@example.com'" in refused("bots", "list", "--as", "carol@example.com")
    assert "no bots yet" in ok("bots", "list", "--as", "Ada@Example.com").stdout


def test_another_accounts_bots_and_runs_are_not_found(
    model: ScriptedChatModel, database_url: str
) -> None:
    seed(database_url, ADA, BOB, bot="Support")
    ok("bots", "publish", "Support", "--as", ADA)
    model.enqueue("hello")
    chatted = ok("chat", "Support", "hi", "--as", ADA)
    run_id = re.findall(r"run (\w+)", chatted.stderr)[0]
    bot_id = json.loads(ok("bots", "list", "--json", "--as", ADA).stdout)[0]["id"]

    for args in (
        ("bots", "show", "Support"),
        ("bots", "show", bot_id),
        ("bots", "publish", bot_id),
        ("bots", "rollback", bot_id, "1"),
        ("chat", bot_id, "hi"),
        ("runs", "list", bot_id),
    ):
        assert "not found" in refused(*args, "--as", BOB), args
    assert f"workflow execution {run_id} not found" in refused("runs", "show", run_id, "--as", BOB)
    assert json.loads(ok("bots", "list", "--json", "--as", BOB).stdout) == []


def test_bad_input_is_a_message_and_exit_1(model: ScriptedChatModel, database_url: str) -> None:
    seed(database_url, ADA, bot="Support")
    with_support_bot(database_url, invalid_draft)
    problems = refused("bots", "publish", "Support")
    assert "the draft cannot be published: fix its problems" in problems
    assert "  - nodes[1].type: node 'mystery' has unknown type 'teleport'" in problems

    ok("bots", "show", "Support")  # nothing published, nothing lost
    assert "blank" in refused("chat", "Support", "   ")
    assert "has no published V2 workflow version" in refused("chat", "Support", "hi")
    assert "session_id" in refused("chat", "Support", "hi", "--session", "bad id!")
    assert "status must be one of" in refused("runs", "list", "Support", "--status", "odd")
    assert "not found" in refused("runs", "show", "nope")
