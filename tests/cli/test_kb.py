"""`snapagent kb ...` through typer's CliRunner on a temporary embedded database."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.cli import kb as kb_cli
from snapagent.errors import DefinitionError

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
    accounts(ADA)  # the only account: every command acts as Ada without --as

    def resolve(spec: str) -> object:
        if spec.startswith("unknown"):
            raise DefinitionError(f"unknown embedding model {spec!r}")
        return hash_embeddings

    monkeypatch.setattr(kb_cli, "embedding_resolver", lambda: resolve)


def _files(tmp_path: Path) -> list[str]:
    good = tmp_path / "vacation.md"
    good.write_text("# 휴가\n\n연차는 입사 1년 후 15일이 주어진다.\n", encoding="utf-8")
    other = tmp_path / "remote.txt"
    other.write_text("Employees may work remotely two days a week.", encoding="utf-8")
    corrupt = tmp_path / "broken.pdf"
    corrupt.write_bytes(b"%PDF-1.4 not really a pdf")
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nxxxx")
    return [str(good), str(other), str(corrupt), str(image), str(tmp_path / "missing.md")]


def test_create_add_query_list(tmp_path: Path) -> None:
    created = runner.invoke(app, ["kb", "create", "handbook", "-d", "HR rules"])
    assert created.exit_code == 0, created.output
    assert "handbook" in created.output

    added = runner.invoke(app, ["kb", "add", "handbook", *_files(tmp_path)])
    # Bad files are named with their reason, the good ones still get indexed, exit code 1.
    assert added.exit_code == 1
    assert "2 document(s) indexed" in added.stdout
    assert "broken.pdf" in added.stderr
    assert "photo.png" in added.stderr
    assert "PNG image" in added.stderr
    assert "missing.md: cannot read" in added.stderr

    as_json = runner.invoke(
        app, ["kb", "query", "handbook", "연차는 며칠", "--top-k", "1", "--json"]
    )
    assert as_json.exit_code == 0, as_json.output
    results = json.loads(as_json.stdout)
    assert len(results) == 1
    assert "15일" in results[0]["text"]
    assert results[0]["document_title"] == "휴가"
    assert {"score", "document_id", "chunk_index", "heading", "knowledge_base_id"} <= set(
        results[0]
    )

    for mode in ("keyword", "vector", "hybrid"):
        plain = runner.invoke(app, ["kb", "query", "handbook", "work remotely", "--mode", mode])
        assert plain.exit_code == 0, plain.output
        assert "1. [" in plain.stdout
        assert "remotely" in plain.stdout

    listed = runner.invoke(app, ["kb", "list", "--json"])
    assert listed.exit_code == 0
    [row] = json.loads(listed.stdout)
    assert (row["name"], row["document_count"]) == ("handbook", 3)  # two indexed, one failed
    assert "handbook" in runner.invoke(app, ["kb", "list"]).stdout


def test_oversized_file_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_KNOWLEDGE_MAX_UPLOAD_BYTES", "100")
    runner.invoke(app, ["kb", "create", "small"])
    big = tmp_path / "big.txt"
    big.write_text("x" * 101, encoding="utf-8")
    result = runner.invoke(app, ["kb", "add", "small", str(big)])
    assert result.exit_code == 1
    assert "big.txt: larger than the upload limit (100 bytes)" in result.stderr


def test_all_good_files_exit_zero_and_by_id(tmp_path: Path) -> None:
    runner.invoke(app, ["kb", "create", "notes"])
    kb_id = json.loads(runner.invoke(app, ["kb", "list", "--json"]).stdout)[0]["id"]
    note = tmp_path / "n.md"
    note.write_text("# Tea\n\nSteep green tea for two minutes.", encoding="utf-8")
    result = runner.invoke(app, ["kb", "add", kb_id, str(note)])
    assert result.exit_code == 0, result.output
    assert "1 document(s) indexed" in result.stdout


def test_errors_are_messages_not_tracebacks() -> None:
    missing = runner.invoke(app, ["kb", "query", "nope", "question"])
    assert missing.exit_code == 1
    assert "error: knowledge base 'nope' not found" in missing.stderr
    runner.invoke(app, ["kb", "create", "dup"])
    dup = runner.invoke(app, ["kb", "create", "dup"])
    assert dup.exit_code == 1
    assert "already exists" in dup.stderr
    bad_mode = runner.invoke(app, ["kb", "query", "dup", "q", "--mode", "fuzzy"])
    assert bad_mode.exit_code == 2
    empty = runner.invoke(app, ["kb", "list"])
    assert "Traceback" not in empty.output


def test_reembed_moves_a_knowledge_base_to_another_model(tmp_path: Path) -> None:
    runner.invoke(app, ["kb", "create", "notes", "--embedding-model", "local"])
    note = tmp_path / "n.md"
    note.write_text("# Tea\n\nSteep green tea for two minutes.", encoding="utf-8")
    assert runner.invoke(app, ["kb", "add", "notes", str(note)]).exit_code == 0

    moved = runner.invoke(app, ["kb", "reembed", "notes"])  # to the default for new KBs

    assert moved.exit_code == 0, moved.output
    assert "notes: 1 chunk(s) re-embedded with local:multilingual-e5-small" in moved.stdout
    assert "was local" in moved.stdout
    listed = json.loads(runner.invoke(app, ["kb", "list", "--json"]).stdout)
    assert listed[0]["embedding_model"] == "local:multilingual-e5-small"
    again = runner.invoke(app, ["kb", "reembed", "notes"])
    assert "notes: already uses local:multilingual-e5-small" in again.stdout
    hits = json.loads(runner.invoke(app, ["kb", "query", "notes", "green tea", "--json"]).stdout)
    assert "two minutes" in hits[0]["text"]


def test_reembed_names_what_is_wrong() -> None:
    missing = runner.invoke(app, ["kb", "reembed", "nope"])
    assert missing.exit_code == 1
    assert "error: knowledge base 'nope' not found" in missing.stderr
    runner.invoke(app, ["kb", "create", "notes"])
    unknown = runner.invoke(app, ["kb", "reembed", "notes", "--model", "unknown:x", "--force"])
    assert unknown.exit_code == 1
    assert "error: unknown embedding model 'unknown:x'" in unknown.stderr
    assert "Traceback" not in unknown.output


def test_a_knowledge_base_is_the_acting_accounts_own(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    accounts: Callable[..., list[str]],
    account_emails: Callable[[], list[str]],
) -> None:
    note = tmp_path / "n.md"
    note.write_text("# Tea\n\nSteep green tea for two minutes.", encoding="utf-8")
    assert runner.invoke(app, ["kb", "create", "notes"]).exit_code == 0
    assert runner.invoke(app, ["kb", "add", "notes", str(note)]).exit_code == 0
    assert account_emails() == [ADA]  # no separate CLI user was created behind Ada's back

    accounts(BOB)
    several = runner.invoke(app, ["kb", "list"])
    assert several.exit_code == 1
    assert f"2 accounts: pick one with --as EMAIL ({ADA}, {BOB})" in several.stderr
    assert "Traceback" not in several.output

    ada = runner.invoke(app, ["kb", "list", "--json", "--as", ADA])
    assert [row["name"] for row in json.loads(ada.stdout)] == ["notes"]
    assert json.loads(runner.invoke(app, ["kb", "list", "--json", "--as", BOB]).stdout) == []
    for args in (["query", "notes", "tea"], ["add", "notes", str(note)], ["reembed", "notes"]):
        strange = runner.invoke(app, ["kb", *args, "--as", BOB])
        assert strange.exit_code == 1, strange.output
        assert "error: knowledge base 'notes' not found" in strange.stderr

    # SNAPAGENT_CLI_OWNER is the default --as (scripts); --as still wins over it.
    monkeypatch.setenv("SNAPAGENT_CLI_OWNER", BOB)
    assert json.loads(runner.invoke(app, ["kb", "list", "--json"]).stdout) == []
    ada = runner.invoke(app, ["kb", "list", "--json", "--as", ADA])
    assert [row["name"] for row in json.loads(ada.stdout)] == ["notes"]
    monkeypatch.setenv("SNAPAGENT_CLI_OWNER", "cli@snapagent.local")
    unknown = runner.invoke(app, ["kb", "create", "more"])
    assert unknown.exit_code == 1
    assert "no account 'cli@snapagent.local' (named by SNAPAGENT_CLI_OWNER" in unknown.stderr
    assert account_emails() == [ADA, BOB]
