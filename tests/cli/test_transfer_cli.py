"""`snapagent import` / `snapagent export` through typer's CliRunner on an embedded database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.cli import kb as kb_cli
from snapagent.interop.loading import DocumentLimits, load_document
from snapagent.testing.dify_corpus import FIXTURES

runner = CliRunner()
ADA = "ada@example.com"
BOB = "bob@example.com"
pytestmark = pytest.mark.usefixtures("fresh_process_logging")


@pytest.fixture(autouse=True)
def _embedded_home(
    embedded_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    hash_embeddings: object,
    accounts: Callable[..., list[str]],
) -> None:
    accounts(ADA)  # the only account: import and export act as Ada without --as
    monkeypatch.setattr(kb_cli, "embedding_resolver", lambda: lambda spec: hash_embeddings)


def test_import_prints_a_line_per_file_with_its_report_and_fails_on_bad_files(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "missing.yml"
    files = [FIXTURES / "v0_6_trigger.yml", FIXTURES / "future_version.yml", missing]
    result = runner.invoke(app, ["import", *map(str, files), "--model-override", "offline"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"imported {files[0]} -> bot ")
    assert "warning: [hook] trigger-webhook" in result.stdout
    assert f"FAILED {files[1]}: Dify DSL version 0.9.0 is newer" in result.stdout
    assert f"FAILED {missing}: cannot read the file" in result.stdout


def test_dry_run_json_creates_nothing_and_export_writes_yaml(tmp_path: Path) -> None:
    chatflow = str(FIXTURES / "v0_6_chatflow.yml")
    dry = runner.invoke(app, ["import", chatflow, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    [outcome] = json.loads(dry.stdout)
    assert outcome["status"] == "checked"
    assert outcome["report"]["problems"] == []
    assert any("would be created empty" in i["message"] for i in outcome["report"]["items"])
    listed = runner.invoke(app, ["kb", "list", "--json"])
    assert json.loads(listed.stdout) == []  # the dry run created no knowledge base

    done = runner.invoke(app, ["import", chatflow, "--json", "--model-override", "offline"])
    assert done.exit_code == 0, done.output
    [imported] = json.loads(done.stdout)
    bot_id = imported["bot_id"]

    native = runner.invoke(app, ["export", bot_id])
    assert native.exit_code == 0, native.output
    assert load_document(native.stdout.encode(), DocumentLimits())["kind"] == "snapagent-bot"
    target = tmp_path / "out.dify.yml"
    dify = runner.invoke(app, ["export", bot_id, "--format", "dify", "-o", str(target)])
    assert dify.exit_code == 0, dify.output
    assert load_document(target.read_bytes(), DocumentLimits())["kind"] == "app"
    assert "knowledge bases cannot become Dify datasets" in dify.stderr
    again = runner.invoke(app, ["import", str(target), "--model-override", "offline"])
    assert again.exit_code == 0, again.output

    unknown = runner.invoke(app, ["export", "no-such-bot"])
    assert unknown.exit_code == 1
    assert "not found" in unknown.stderr
    bad = runner.invoke(app, ["import", chatflow, "--format", "xml"])
    assert bad.exit_code == 2


def test_import_and_export_act_as_the_named_account(
    accounts: Callable[..., list[str]], account_emails: Callable[[], list[str]]
) -> None:
    chatflow = str(FIXTURES / "v0_6_chatflow.yml")
    accounts(BOB)
    several = runner.invoke(app, ["import", chatflow, "--model-override", "offline"])
    assert several.exit_code == 1
    assert f"2 accounts: pick one with --as EMAIL ({ADA}, {BOB})" in several.stderr
    assert "Traceback" not in several.output

    done = runner.invoke(
        app, ["import", chatflow, "--json", "--model-override", "offline", "--as", ADA]
    )
    assert done.exit_code == 0, done.output
    [imported] = json.loads(done.stdout)
    # The bot and the knowledge bases it brought are Ada's - in her console, not another user's.
    ada_kbs = json.loads(runner.invoke(app, ["kb", "list", "--json", "--as", ADA]).stdout)
    assert ada_kbs
    assert json.loads(runner.invoke(app, ["kb", "list", "--json", "--as", BOB]).stdout) == []
    assert runner.invoke(app, ["export", imported["bot_id"], "--as", ADA]).exit_code == 0
    strange = runner.invoke(app, ["export", imported["bot_id"], "--as", BOB])
    assert strange.exit_code == 1
    assert "not found" in strange.stderr
    unknown = runner.invoke(app, ["export", imported["bot_id"], "--as", "nobody@example.com"])
    assert unknown.exit_code == 1
    assert "no account 'nobody@example.com'" in unknown.stderr
    assert account_emails() == [ADA, BOB]
