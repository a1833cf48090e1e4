"""ExecutionService, StatisticsService and prune against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from snapagent.db.base import new_id
from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
from snapagent.db.session import Database
from snapagent.errors import InputValidationError, NotFoundError
from snapagent.services.executions import ExecutionService, prune_runs
from snapagent.services.run_recorder import NodeRecord, RunRecord, RunRecorder
from snapagent.services.statistics import StatisticsService
from snapagent.testing.seeding import user_and_bot

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _run(
    bot_id: str,
    started: datetime,
    *,
    status: str = "succeeded",
    elapsed: float = 100.0,
    version: int = 1,
    tokens: tuple[int, int] = (10, 5),
    llm_status: str = "succeeded",
) -> RunRecord:
    return RunRecord(
        run_id=new_id(),
        bot_id=bot_id,
        status=status,
        started_at=started,
        finished_at=started + timedelta(milliseconds=elapsed),
        elapsed_ms=elapsed,
        inputs={"query": "hi"},
        outputs={"answer": "hello"} if status == "succeeded" else {},
        error=None if status == "succeeded" else f"{status} run",
        version_id=f"v{version}",
        version_number=version,
        session_id="s1",
        input_tokens=tokens[0],
        output_tokens=tokens[1],
        nodes=[
            NodeRecord("start", "start", 0, "succeeded", outputs={"query": "hi"}, elapsed_ms=1.0),
            NodeRecord(
                "llm",
                "llm",
                1,
                llm_status,
                inputs={"query": "hi"},
                elapsed_ms=elapsed - 2,
                input_tokens=tokens[0],
                output_tokens=tokens[1],
                retries=1,
            ),
        ],
    )


@pytest.fixture
async def bot_id(migrated_db: Database) -> str:
    _owner_id, bot_id = await user_and_bot(migrated_db)
    return bot_id


async def test_recorded_run_reads_back_with_nodes_in_order(
    migrated_db: Database, bot_id: str
) -> None:
    recorder = RunRecorder(migrated_db.sessionmaker)
    record = _run(bot_id, T0)
    record.nodes = list(reversed(record.nodes))  # insertion order must not matter
    assert await recorder.record(record)
    async with migrated_db.session() as session:
        detail = await ExecutionService(session).get_run(bot_id, record.run_id)
    assert detail.status == "succeeded"
    assert detail.total_tokens == 15
    assert detail.outputs == {"answer": "hello"}
    assert [n.node_id for n in detail.nodes] == ["start", "llm"]
    assert detail.nodes[1].retries == 1
    assert detail.nodes[1].started_at is None
    assert detail.started_at == T0


async def test_large_and_odd_values_are_clipped_with_a_marker(
    migrated_db: Database, bot_id: str
) -> None:
    recorder = RunRecorder(migrated_db.sessionmaker)
    recorder.settings = recorder.settings.model_copy(update={"value_max_chars": 100})
    record = _run(bot_id, T0)
    record.outputs = {"answer": "x" * 500, "docs": [{"text": "y" * 300}], "when": T0, "n": 3}
    record.error = "e" * 1000
    assert await recorder.record(record)
    async with migrated_db.session() as session:
        detail = await ExecutionService(session).get_run(bot_id, record.run_id)
    assert detail.outputs["answer"].startswith("x" * 100)
    assert "_truncated: 500 chars" in detail.outputs["answer"]
    assert detail.outputs["docs"]["_truncated"] is True
    assert detail.outputs["docs"]["original_chars"] > 300
    assert detail.outputs["when"] == str(T0)
    assert detail.outputs["n"] == 3
    assert detail.error is not None
    assert len(detail.error) < 200


async def test_a_failing_record_is_logged_not_raised(
    migrated_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = RunRecorder(migrated_db.sessionmaker)
    record = _run("no-such-bot", T0)
    assert await recorder.record(record) is False
    assert "could not record workflow run" in caplog.text
    async with migrated_db.session() as session:
        assert await session.scalar(select(func.count(WorkflowExecutionRun.id))) == 0


async def test_list_is_newest_first_with_cursor_and_filters(
    migrated_db: Database, bot_id: str
) -> None:
    recorder = RunRecorder(migrated_db.sessionmaker)
    ids = []
    for i in range(7):
        status = "failed" if i % 3 == 0 else "succeeded"
        # Two runs share a start time: the cursor must still neither skip nor repeat.
        record = _run(bot_id, T0 + timedelta(minutes=min(i, 5)), status=status, version=1 + i % 2)
        ids.append(record.run_id)
        assert await recorder.record(record)
    _stranger_id, other_bot = await user_and_bot(migrated_db)
    assert await recorder.record(_run(other_bot, T0))

    async with migrated_db.session() as session:
        service = ExecutionService(session)
        seen: list[str] = []
        cursor = None
        while True:
            page = await service.list_runs(bot_id, limit=3, cursor=cursor)
            seen += [r.id for r in page.data]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert len(seen) == 7
        assert set(seen) == set(ids)
        starts = [(await service.get_run(bot_id, run_id)).started_at for run_id in seen]
        assert starts == sorted(starts, reverse=True)

        failed = await service.list_runs(bot_id, status="failed")
        assert {r.id for r in failed.data} == {ids[0], ids[3], ids[6]}
        version_two = await service.list_runs(bot_id, version=2)
        assert {r.version_number for r in version_two.data} == {2}
        assert len(version_two.data) == 3

        with pytest.raises(InputValidationError) as bad_cursor:
            await service.list_runs(bot_id, cursor="not-a-cursor")
        assert bad_cursor.value.field == "cursor"
        with pytest.raises(InputValidationError):
            await service.list_runs(bot_id, status="running")
        with pytest.raises(InputValidationError):
            await service.list_runs(bot_id, limit=0)
        with pytest.raises(NotFoundError):
            await service.get_run(other_bot, ids[0])


async def test_statistics_aggregate_in_sql(migrated_db: Database, bot_id: str) -> None:
    recorder = RunRecorder(migrated_db.sessionmaker)
    day2 = T0 + timedelta(days=1)
    runs = [
        _run(bot_id, T0, elapsed=100, version=1),
        _run(bot_id, T0 + timedelta(hours=1), elapsed=200, version=1),
        _run(bot_id, T0 + timedelta(hours=2), status="failed", elapsed=5, llm_status="failed"),
        _run(bot_id, day2, elapsed=300, version=2, tokens=(100, 50)),
        _run(bot_id, day2 + timedelta(hours=1), status="cancelled", elapsed=50, version=2),
    ]
    for record in runs:
        assert await recorder.record(record)

    async with migrated_db.session() as session:
        stats = await StatisticsService(session).compute(bot_id)
        assert (stats.total_runs, stats.succeeded, stats.failed, stats.cancelled) == (5, 3, 1, 1)
        assert stats.success_rate == 0.6
        assert stats.avg_latency_ms == 200.0  # succeeded runs only
        assert stats.p50_latency_ms == 200.0
        assert stats.p95_latency_ms == 300.0
        assert (stats.input_tokens, stats.output_tokens, stats.total_tokens) == (140, 70, 210)
        assert [(d.day, d.runs, d.succeeded, d.failed) for d in stats.daily] == [
            (date(2026, 3, 1), 3, 2, 1),
            (date(2026, 3, 2), 2, 1, 0),
        ]
        llm = next(n for n in stats.nodes if n.node_id == "llm")
        assert (llm.executions, llm.failures) == (5, 1)
        assert [(v.version_number, v.runs, v.succeeded) for v in stats.versions] == [
            (2, 2, 1),
            (1, 3, 2),
        ]

        only_day2 = await StatisticsService(session).compute(bot_id, start=day2)
        assert only_day2.total_runs == 2
        naive_end = datetime(2026, 3, 1, 10, 30)  # naive means UTC
        assert (await StatisticsService(session).compute(bot_id, end=naive_end)).total_runs == 1

        empty = await StatisticsService(session).compute(
            bot_id, start=T0 - timedelta(days=30), end=T0 - timedelta(days=20)
        )
        assert empty.total_runs == 0
        assert empty.success_rate == 0.0
        assert empty.daily == []
        assert empty.nodes == []
        assert empty.versions == []
        with pytest.raises(InputValidationError):
            await StatisticsService(session).compute(bot_id, start=day2, end=T0)


async def test_prune_deletes_old_runs_in_batches(migrated_db: Database, bot_id: str) -> None:
    recorder = RunRecorder(migrated_db.sessionmaker)
    now = T0 + timedelta(days=100)
    for i in range(5):
        assert await recorder.record(_run(bot_id, T0 + timedelta(minutes=i)))
    keep = _run(bot_id, now - timedelta(days=1))
    assert await recorder.record(keep)

    dry = await prune_runs(migrated_db.sessionmaker, older_than_days=30, dry_run=True, now=now)
    assert (dry.runs, dry.node_executions, dry.dry_run) == (5, 10, True)
    report = await prune_runs(migrated_db.sessionmaker, older_than_days=30, batch_size=2, now=now)
    assert (report.runs, report.node_executions, report.batches) == (5, 10, 3)

    async with migrated_db.session() as session:
        assert await session.scalar(select(func.count(WorkflowExecutionRun.id))) == 1
        assert await session.scalar(select(func.count(WorkflowNodeExecution.id))) == 2
        assert (await ExecutionService(session).get_run(bot_id, keep.run_id)).id == keep.run_id
    with pytest.raises(InputValidationError):
        await prune_runs(migrated_db.sessionmaker, older_than_days=-1)
