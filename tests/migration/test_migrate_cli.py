"""`snapagent migrate-workflows` and the seed's script, run as an operator would."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.db.migrate import upgrade
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.legacy.seed import SeededBots, seed_legacy_bots

from .conftest import dump_database

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "migrate_workflows_to_v2.py"
runner = CliRunner()


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _prepare(url: str, count: int, share: float) -> SeededBots:
    db = Database(url)
    try:
        await upgrade(db)
        return await seed_legacy_bots(
            db, count, malformed_share=share, rng_seed=11, huge_prompt_chars=20_000
        )
    finally:
        await db.dispose()


async def _query(url: str, fn: Any) -> Any:
    db = Database(url)
    try:
        return await fn(db)
    finally:
        await db.dispose()


async def _draft_counts(db: Database) -> dict[str, int]:
    v = BotWorkflowVersion.__table__
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(v.c.bot_id, func.count()).group_by(v.c.bot_id))
        return {r[0]: int(r[1]) for r in rows}


@pytest.fixture
def legacy_url(sqlite_url: str) -> tuple[str, SeededBots]:
    return sqlite_url, _run(_prepare(sqlite_url, 30, 0.3))


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["migrate-workflows", *args])


def test_dry_run_verbose_lists_every_bot_and_writes_nothing(
    legacy_url: tuple[str, SeededBots],
) -> None:
    url, seeded = legacy_url
    before = _run(_query(url, dump_database))
    result = invoke("--database-url", url, "--dry-run", "--verbose")
    assert result.exit_code == 1, result.output  # the malformed bots fail
    for bot_id in seeded.all_ids:
        assert bot_id in result.output
    assert "dry run: scanned 30, would convert 20, skipped 0, failed 10" in result.output
    assert _run(_query(url, dump_database)) == before


def test_json_summary_and_exit_code(legacy_url: tuple[str, SeededBots]) -> None:
    url, seeded = legacy_url
    result = invoke("--database-url", url, "--json")
    assert result.exit_code == 1
    summary = json.loads(result.output)
    assert {k: summary[k] for k in ("scanned", "converted", "skipped", "failed")} == {
        "scanned": 30,
        "converted": 20,
        "skipped": 0,
        "failed": 10,
    }
    assert {f["bot_id"] for f in summary["failures"]} == set(seeded.malformed_ids)
    again = json.loads(invoke("--database-url", url, "--json").output)
    assert (again["converted"], again["skipped"]) == (0, 20)


def test_only_valid_bots_exit_zero_and_limit_is_respected(
    legacy_url: tuple[str, SeededBots],
) -> None:
    url, seeded = legacy_url
    ids = [arg for bot_id in seeded.valid_ids[:4] for arg in ("--bot-id", bot_id)]
    result = invoke("--database-url", url, "--limit", "3", *ids)
    assert result.exit_code == 0, result.output
    assert "converted 3" in result.output
    assert len(_run(_query(url, _draft_counts))) == 3


def test_rollback_round_trip(legacy_url: tuple[str, SeededBots]) -> None:
    url, seeded = legacy_url
    target = seeded.valid_ids[0]
    assert invoke("--database-url", url, "--bot-id", target).exit_code == 0
    result = invoke("--database-url", url, "--rollback", "--bot-id", target)
    assert result.exit_code == 0, result.output
    assert "1 migration draft(s) removed" in result.output
    assert _run(_query(url, _draft_counts)) == {}
    second = invoke("--database-url", url, "--rollback", "--bot-id", target)
    assert second.exit_code == 2
    assert "was not migrated" in second.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rollback"], "--rollback needs at least one --bot-id"),
        (["--rollback", "--bot-id", "x", "--dry-run"], "--rollback takes only"),
        (["--database-url", "mysql://x/y"], "unsupported database"),
    ],
)
def test_bad_arguments_are_clear_errors(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_database_without_the_schema_is_refused(sqlite_url: str) -> None:
    result = invoke("--database-url", sqlite_url, "--dry-run")
    assert result.exit_code == 2
    assert "snapagent db upgrade" in result.output


def test_killed_script_then_rerun_migrates_every_bot_exactly_once(sqlite_url: str) -> None:
    seeded: SeededBots = _run(_prepare(sqlite_url, 600, 0.0))
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, str(SCRIPT), "--database-url", sqlite_url, "--verbose"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    lines = 0
    for line in proc.stdout:
        lines += "converted" in line
        if lines >= 50:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    partial = _run(_query(sqlite_url, _draft_counts))
    assert 50 <= len(partial) < 600, "the first run must have been killed mid-way"
    finished = subprocess.run(
        [*cmd, "--json"], capture_output=True, text=True, env=env, timeout=120
    )
    assert finished.returncode == 0, finished.stderr
    summary = json.loads(finished.stdout)
    assert summary["skipped"] == len(partial)
    assert summary["converted"] == 600 - len(partial)
    counts = _run(_query(sqlite_url, _draft_counts))
    assert set(counts) == set(seeded.valid_ids)
    assert set(counts.values()) == {1}
