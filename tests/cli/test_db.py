"""`snapagent db ...` on an embedded database and against an unreachable server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.db.migrate import head_revisions

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fresh_process_logging")


def test_upgrade_current_history_downgrade(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SNAPAGENT_DATA_DIR", str(tmp_path))
    head = head_revisions()[0]

    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 0, before.output
    assert "base (empty) - behind" in before.stdout

    up = runner.invoke(app, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert f"at revision {head}" in up.stdout
    assert (tmp_path / "snapagent.db").exists()
    assert "up to date" in runner.invoke(app, ["db", "current"]).stdout

    history = runner.invoke(app, ["db", "history"])
    assert f"{head} (head)" in history.stdout
    assert "0001" in history.stdout

    down = runner.invoke(app, ["db", "downgrade", "base"])
    assert down.exit_code == 0, down.output
    assert "base (empty)" in down.stdout


def test_unreachable_database_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app:hunter2@127.0.0.1:1/snap")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "database is unavailable" in result.stderr
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output
