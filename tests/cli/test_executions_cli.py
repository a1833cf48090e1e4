"""`snapagent executions prune` through typer's runner, on a real SQLite file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.db.base import new_id
from snapagent.db.migrate import upgrade
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.session import Database
from snapagent.services.run_recorder import NodeRecord, RunRecord, RunRecorder


async def _seed(url: str, ages_in_days: list[int]) -> None:
    db = Database(url)
    await upgrade(db)
    async with db.transaction() as session:
        user = User(email="cli@example.com")
        session.add(user)
        await session.flush()
        bot = Bot(owner_id=user.id, name="bot", knowledge_base_ids=[])
        session.add(bot)
    recorder = RunRecorder(db.sessionmaker)
    now = datetime.now(UTC)
    for age in ages_in_days:
        started = now - timedelta(days=age)
        nodes = [NodeRecord("start", "start", 0, "succeeded")]
        record = RunRecord(new_id(), bot.id, "succeeded", started, started, 1.0, nodes=nodes)
        assert await recorder.record(record)
    await db.dispose()


async def _count(url: str) -> int:
    db = Database(url)
    async with db.session() as session:
        count = await session.scalar(select(func.count(WorkflowExecutionRun.id)))
    await db.dispose()
    return int(count or 0)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SNAPAGENT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SNAPAGENT_EXECUTIONS_RETENTION_DAYS", "60")
    return f"sqlite+aiosqlite:///{tmp_path / 'snapagent.db'}"


def test_prune_dry_run_then_delete(data_dir: str) -> None:
    asyncio.run(_seed(data_dir, [1, 10, 40, 70, 100]))
    runner = CliRunner()

    dry = runner.invoke(app, ["executions", "prune", "--older-than-days", "30", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: 3 run(s) and 3 node execution(s)" in dry.output
    assert asyncio.run(_count(data_dir)) == 5

    default = runner.invoke(app, ["executions", "prune", "--batch-size", "1"])
    assert default.exit_code == 0, default.output
    assert "deleted 2 run(s) and 2 node execution(s)" in default.output  # 60-day setting
    assert "in 2 batch(es)" in default.output
    assert asyncio.run(_count(data_dir)) == 3

    explicit = runner.invoke(app, ["executions", "prune", "--older-than-days", "5"])
    assert "deleted 2 run(s)" in explicit.output
    assert asyncio.run(_count(data_dir)) == 1


def test_prune_on_a_fresh_data_dir_and_bad_options(data_dir: str) -> None:
    fresh = CliRunner().invoke(app, ["executions", "prune"])
    assert fresh.exit_code == 0, fresh.output
    assert "deleted 0 run(s)" in fresh.output

    result = CliRunner().invoke(app, ["executions", "prune", "--batch-size", "0"])
    assert result.exit_code == 2
    assert "batch-size" in result.output
