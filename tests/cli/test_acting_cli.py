"""Every command that acts as an account picks it by the same rules (`snapagent.cli.acting`).

``--as EMAIL``, else ``SNAPAGENT_CLI_OWNER``, else the only account: with none, several, or a
name that matches none, each command says so and exits 1 - no traceback, no account created,
nothing stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.cli import kb as kb_cli
from snapagent.testing.dify_corpus import FIXTURES

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fresh_process_logging")

CHATFLOW = str(FIXTURES / "v0_6_chatflow.yml")
COMMANDS = {
    "bots list": ["bots", "list"],
    "kb create": ["kb", "create", "handbook"],
    "kb list": ["kb", "list", "--json"],
    "kb add": ["kb", "add", "handbook", CHATFLOW],
    "kb query": ["kb", "query", "handbook", "question"],
    "kb reembed": ["kb", "reembed", "handbook"],
    "import": ["import", CHATFLOW, "--model-override", "offline"],
    "export": ["export", "0" * 32],
}
HOSTILE = ["' OR '1'='1", "%", "a@b.c\n--as=x", "x" * 10_000, ""]


@pytest.fixture(autouse=True)
def _embedded_home(
    embedded_home: Path, monkeypatch: pytest.MonkeyPatch, hash_embeddings: object
) -> None:
    monkeypatch.setattr(kb_cli, "embedding_resolver", lambda: lambda spec: hash_embeddings)


def refused(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return result.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_no_account_says_how_to_create_one_and_creates_none(
    command: str, account_emails: Callable[[], list[str]]
) -> None:
    message = refused(COMMANDS[command])
    assert "no account yet: create one with `snapagent users create EMAIL`" in message
    assert account_emails() == []


@pytest.mark.parametrize("command", COMMANDS)
def test_several_accounts_and_unknown_names_are_refused(
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    accounts: Callable[..., list[str]],
    account_emails: Callable[[], list[str]],
) -> None:
    accounts("ada@example.com", "bob@example.com")
    several = refused(COMMANDS[command])
    assert "2 accounts: pick one with --as EMAIL (ada@example.com, bob@example.com)" in several
    unknown = refused([*COMMANDS[command], "--as", "carol@example.com"])
    assert "no account 'carol@example.com' (snapagent users list shows them)" in unknown
    monkeypatch.setenv("SNAPAGENT_CLI_OWNER", "cli@snapagent.local")
    from_env = refused(COMMANDS[command])
    assert "no account 'cli@snapagent.local' (named by SNAPAGENT_CLI_OWNER;" in from_env
    assert account_emails() == ["ada@example.com", "bob@example.com"]


def test_hostile_names_match_no_account(accounts: Callable[..., list[str]]) -> None:
    accounts("ada@example.com")
    for name in HOSTILE:
        assert "error: no account" in refused(["kb", "list", "--as", name])
