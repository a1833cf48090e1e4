"""Statistics by engine (V1/V2) on SQLite and PostgreSQL, and the migration status reading the
same figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from snapagent.db.base import new_id
from snapagent.db.session import Database
from snapagent.services.rollout import migration_status
from snapagent.services.run_recorder import RunRecord, RunRecorder
from snapagent.services.statistics import StatisticsService
from snapagent.testing.seeding import user_and_bot

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _record(
    db: Database, bot_id: str, engine: str, status: str, elapsed: float, tokens: int = 10
) -> None:
    started = NOW - timedelta(hours=1)
    record = RunRecord(
        run_id=new_id(),
        bot_id=bot_id,
        status=status,
        started_at=started,
        finished_at=started + timedelta(milliseconds=elapsed),
        elapsed_ms=elapsed,
        engine=engine,
        input_tokens=tokens,
        output_tokens=tokens // 2,
    )
    assert await RunRecorder(db.sessionmaker).record(record)


async def test_by_engine_splits_counts_rates_latency_and_tokens(migrated_db: Database) -> None:
    owner_id, bot_id = await user_and_bot(migrated_db)
    for elapsed in (10.0, 20.0, 30.0, 40.0):
        await _record(migrated_db, bot_id, "v1", "succeeded", elapsed)
    await _record(migrated_db, bot_id, "v1", "failed", 1.0)
    for elapsed in (100.0, 300.0):
        await _record(migrated_db, bot_id, "v2", "succeeded", elapsed, tokens=100)
    await _record(migrated_db, bot_id, "v2", "cancelled", 5.0)

    async with migrated_db.session() as session:
        stats = await StatisticsService(session).compute(bot_id)
        status = await migration_status(session, owner_id, now=NOW)

    assert stats.total_runs == 8
    v1, v2 = stats.by_engine
    assert (v1.engine, v1.runs, v1.succeeded, v1.failed, v1.cancelled) == ("v1", 5, 4, 1, 0)
    assert (v1.success_rate, v1.goal_success_rate) == (0.8, 0.8)
    assert (v1.avg_latency_ms, v1.p50_latency_ms, v1.p95_latency_ms) == (25.0, 20.0, 40.0)
    assert (v1.input_tokens, v1.output_tokens, v1.total_tokens) == (50, 25, 75)
    assert (v2.engine, v2.runs, v2.succeeded, v2.failed, v2.cancelled) == ("v2", 3, 2, 0, 1)
    # The cancelled stream counts against success_rate, never against the goal's rate.
    assert (v2.success_rate, v2.goal_success_rate) == (0.6667, 1.0)
    assert (v2.avg_latency_ms, v2.p50_latency_ms, v2.p95_latency_ms) == (200.0, 100.0, 300.0)
    assert v2.total_tokens == 2 * 150 + 15
    # The per-engine runs add up to the bot's totals.
    assert sum(e.runs for e in stats.by_engine) == stats.total_runs
    assert sum(e.total_tokens for e in stats.by_engine) == stats.total_tokens

    # The migration status (one owner, one bot, the same window) reports the same figures.
    for engine, mine in (("v1", v1), ("v2", v2)):
        theirs = getattr(status, engine)
        assert (theirs.runs, theirs.succeeded, theirs.failed, theirs.cancelled) == (
            mine.runs,
            mine.succeeded,
            mine.failed,
            mine.cancelled,
        )
        assert theirs.success_rate == mine.goal_success_rate
        assert theirs.avg_elapsed_ms == mine.avg_latency_ms


async def test_one_engine_only_and_empty_ranges(migrated_db: Database) -> None:
    owner_id, bot_id = await user_and_bot(migrated_db)
    await _record(migrated_db, bot_id, "v1", "cancelled", 3.0)

    async with migrated_db.session() as session:
        service = StatisticsService(session)
        stats = await service.compute(bot_id)
        empty = await service.compute(bot_id, start=NOW, end=NOW + timedelta(days=1))
        status = await migration_status(session, owner_id, now=NOW)

    (only,) = stats.by_engine
    assert (only.engine, only.runs, only.cancelled) == ("v1", 1, 1)
    assert (only.success_rate, only.goal_success_rate) == (0.0, None)
    assert (only.avg_latency_ms, only.p50_latency_ms, only.p95_latency_ms) == (0.0, 0.0, 0.0)
    assert empty.total_runs == 0
    assert empty.by_engine == []
    assert (status.v2.runs, status.v2.success_rate, status.v2.avg_elapsed_ms) == (0, None, None)
    assert status.v2_meets_goal is None
