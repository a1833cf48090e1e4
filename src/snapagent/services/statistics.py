"""Execution statistics for one bot over an optional time range, computed in SQL.

Only chat runs count (``trigger = "chat"``, `COUNTED_RUNS`): debug runs - a version or a node
run by hand, a replay - are listed with the executions but never change a figure here, nor the
rollout's success rates (which read `StatisticsService.engines`).

Counts, sums and averages are single GROUP BY queries; percentiles use the nearest-rank method
(``ORDER BY elapsed_ms LIMIT 1 OFFSET k``), which runs unchanged on SQLite and PostgreSQL.
Latency figures cover succeeded runs only: a fast failure or a cancelled stream says nothing
about how long an answer takes. An empty range answers zeros and empty arrays.

``by_engine`` splits the same aggregates by engine (V1/V2) for the gradual rollout;
:func:`snapagent.services.rollout.migration_status` reads its per-engine figures from the same
:meth:`StatisticsService.engines`, so both endpoints agree on the same runs.

    stats = await StatisticsService(session).compute(bot_id, start=None, end=None)
    stats.success_rate, stats.p95_latency_ms, stats.daily[0].runs, stats.by_engine[0].engine
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Date, Select, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
from snapagent.errors import InputValidationError

__all__ = [
    "COUNTED_RUNS",
    "DailyStatistics",
    "EngineStatistics",
    "NodeStatistics",
    "RunStatistics",
    "StatisticsService",
    "VersionStatistics",
]

RUN = WorkflowExecutionRun
NODE = WorkflowNodeExecution

COUNTED_RUNS: ColumnElement[bool] = RUN.trigger == "chat"
"""The runs every figure is made of: users' chat turns, never debug runs."""


# Field descriptions shared by the aggregates below (every figure counts chat runs only).
_RUNS = "Chat runs counted."
_SUCCEEDED = "Runs that finished with an answer."
_FAILED = "Runs that ended in an error."
_CANCELLED = "Runs cut short (the client hung up or the run was stopped)."
_SUCCESS_RATE = "succeeded / runs, 0.0 to 1.0 (4 decimals); 0.0 without runs."
_AVG_LATENCY = "Mean duration of the succeeded runs, in milliseconds; 0.0 without any."
_P50 = "Median duration of the succeeded runs (nearest rank), in milliseconds."
_P95 = "95th percentile duration of the succeeded runs (nearest rank), in milliseconds."
_INPUT_TOKENS = "Model input (prompt) tokens, summed over the runs."
_OUTPUT_TOKENS = "Model output (completion) tokens, summed over the runs."
_TOTAL_TOKENS = "Input plus output tokens, summed over the runs."


class DailyStatistics(BaseModel):
    day: date = Field(description="The UTC calendar day the runs started on.")
    runs: int = Field(description=_RUNS)
    succeeded: int = Field(description=_SUCCEEDED)
    failed: int = Field(description=_FAILED)
    cancelled: int = Field(description=_CANCELLED)
    avg_latency_ms: float = Field(description=_AVG_LATENCY)
    total_tokens: int = Field(description=_TOTAL_TOKENS)


class NodeStatistics(BaseModel):
    node_id: str = Field(description="The node's id in the graph.")
    node_type: str = Field(description="Its node type.")
    executions: int = Field(
        description="Times the node ran (a node in an iteration or loop runs once per pass)."
    )
    failures: int = Field(description="Executions that failed.")
    avg_latency_ms: float = Field(
        description="Mean duration of its executions, failed ones included, in milliseconds."
    )


class VersionStatistics(BaseModel):
    version_id: str | None = Field(description="The version that ran; null for V1 runs.")
    version_number: int | None = Field(
        description="That version's number; null for V1 runs or a draft."
    )
    runs: int = Field(description=_RUNS)
    succeeded: int = Field(description=_SUCCEEDED)
    failed: int = Field(description=_FAILED)
    cancelled: int = Field(description=_CANCELLED)
    success_rate: float = Field(description=_SUCCESS_RATE)
    avg_latency_ms: float = Field(description=_AVG_LATENCY)


class EngineStatistics(BaseModel):
    """The runs of one engine (``v1`` or ``v2``). ``success_rate`` is succeeded / runs, as
    everywhere in the statistics; ``goal_success_rate`` leaves cancelled runs out (a client that
    hung up is not a failure): succeeded / (succeeded + failed), null without such runs - the
    figure ``GET /api/v1/migration/status`` compares with the seed's 99 % goal."""

    engine: str = Field(description="`v1` or `v2`.")
    runs: int = Field(description=_RUNS)
    succeeded: int = Field(description=_SUCCEEDED)
    failed: int = Field(description=_FAILED)
    cancelled: int = Field(description=_CANCELLED)
    success_rate: float = Field(description=_SUCCESS_RATE)
    goal_success_rate: float | None = Field(
        description="succeeded / (succeeded + failed), 0.0 to 1.0: cancelled runs left out; "
        "null without succeeded or failed runs."
    )
    avg_latency_ms: float = Field(description=_AVG_LATENCY)
    p50_latency_ms: float = Field(description=_P50)
    p95_latency_ms: float = Field(description=_P95)
    input_tokens: int = Field(description=_INPUT_TOKENS)
    output_tokens: int = Field(description=_OUTPUT_TOKENS)
    total_tokens: int = Field(description=_TOTAL_TOKENS)


class RunStatistics(BaseModel):
    """Aggregates of a bot's runs between ``start`` (inclusive) and ``end`` (exclusive)."""

    start: datetime | None = Field(
        description="Runs started at or after this (UTC, inclusive); null: since the first."
    )
    end: datetime | None = Field(
        description="Runs started before this (UTC, exclusive); null: up to now."
    )
    total_runs: int = Field(description=_RUNS)
    succeeded: int = Field(description=_SUCCEEDED)
    failed: int = Field(description=_FAILED)
    cancelled: int = Field(description=_CANCELLED)
    success_rate: float = Field(description="succeeded / total_runs, 0.0 to 1.0 (4 decimals).")
    avg_latency_ms: float = Field(description=_AVG_LATENCY)
    p50_latency_ms: float = Field(description=_P50)
    p95_latency_ms: float = Field(description=_P95)
    input_tokens: int = Field(description=_INPUT_TOKENS)
    output_tokens: int = Field(description=_OUTPUT_TOKENS)
    total_tokens: int = Field(description=_TOTAL_TOKENS)
    daily: list[DailyStatistics] = Field(description="The same figures per UTC day with runs.")
    nodes: list[NodeStatistics] = Field(description="Per node of the graphs that ran.")
    versions: list[VersionStatistics] = Field(description="Per version that ran.")
    by_engine: list[EngineStatistics] = Field(
        description="Per engine (V1/V2), for the gradual rollout."
    )


def _count_status(status: str) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((RUN.status == status, 1), else_=0)), 0)


def _avg_succeeded_latency() -> ColumnElement[Any]:
    return func.coalesce(func.avg(case((RUN.status == "succeeded", RUN.elapsed_ms))), 0.0)


def _day_expression(dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        # timestamptz -> the UTC calendar day, whatever the connection's time zone.
        return cast(func.timezone("UTC", RUN.started_at), Date)
    # SQLite stores UTC timestamps as ISO text; date() takes its calendar day.
    return func.date(RUN.started_at)


def _as_utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+01:00 has no UTC equivalent
        raise InputValidationError("date is out of range", field=name) from exc


def _rate(succeeded: int, total: int) -> float:
    return round(succeeded / total, 4) if total else 0.0


def _goal_rate(succeeded: int, failed: int) -> float | None:
    # Cancelled runs (a client that hung up) are neither a success nor a failure here.
    return _rate(succeeded, succeeded + failed) if succeeded + failed else None


def _totals_columns() -> list[ColumnElement[Any]]:
    """Run count, outcomes, average succeeded latency and tokens: the run totals and each
    engine's row of ``by_engine`` come from these same columns."""
    return [
        func.count(RUN.id),
        _count_status("succeeded"),
        _count_status("failed"),
        _count_status("cancelled"),
        _avg_succeeded_latency(),
        func.coalesce(func.sum(RUN.input_tokens), 0),
        func.coalesce(func.sum(RUN.output_tokens), 0),
        func.coalesce(func.sum(RUN.total_tokens), 0),
    ]


class StatisticsService:
    """Computes :class:`RunStatistics`. The caller has already checked bot ownership."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def compute(
        self, bot_id: str, *, start: datetime | None = None, end: datetime | None = None
    ) -> RunStatistics:
        start, end = _as_utc(start, "start"), _as_utc(end, "end")
        if start is not None and end is not None and start > end:
            raise InputValidationError("start must not be after end", field="start")
        conditions: list[ColumnElement[bool]] = [RUN.bot_id == bot_id, COUNTED_RUNS]
        if start is not None:
            conditions.append(RUN.started_at >= start)
        if end is not None:
            conditions.append(RUN.started_at < end)

        totals = (await self.session.execute(select(*_totals_columns()).where(*conditions))).one()
        total = totals[0]
        if not total:
            return RunStatistics(
                start=start, end=end, total_runs=0, succeeded=0, failed=0, cancelled=0,
                success_rate=0.0, avg_latency_ms=0.0, p50_latency_ms=0.0, p95_latency_ms=0.0,
                input_tokens=0, output_tokens=0, total_tokens=0, daily=[], nodes=[], versions=[],
                by_engine=[],
            )  # fmt: skip
        return RunStatistics(
            start=start,
            end=end,
            total_runs=int(total),
            **await self._figures(conditions, totals),
            daily=await self._daily(conditions),
            nodes=await self._nodes(conditions),
            versions=await self._versions(conditions),
            by_engine=list((await self.engines(conditions)).values()),
        )

    async def engines(self, conditions: list[ColumnElement[bool]]) -> dict[str, EngineStatistics]:
        """Aggregates per engine of the counted runs matching ``conditions`` (ordered by
        engine name; only engines with runs). Shared by ``by_engine`` and the migration
        status."""
        if not any(condition is COUNTED_RUNS for condition in conditions):
            conditions = [*conditions, COUNTED_RUNS]
        rows = await self.session.execute(
            select(RUN.engine, *_totals_columns())
            .where(*conditions)
            .group_by(RUN.engine)
            .order_by(RUN.engine)
        )
        out: dict[str, EngineStatistics] = {}
        for engine, *totals in rows:
            out[engine] = EngineStatistics(
                engine=engine,
                runs=int(totals[0]),
                goal_success_rate=_goal_rate(int(totals[1]), int(totals[2])),
                **await self._figures([*conditions, RUN.engine == engine], totals),
            )
        return out

    async def _figures(
        self, conditions: list[ColumnElement[bool]], totals: Sequence[Any]
    ) -> dict[str, Any]:
        """Outcomes, rate, latency and tokens from a row of :func:`_totals_columns` (and the
        percentiles of the succeeded runs matching ``conditions``): the fields the totals and
        each ``by_engine`` entry share."""
        total, succeeded, failed, cancelled, avg_latency, tokens_in, tokens_out, tokens = totals
        succeeded_conditions = [*conditions, RUN.status == "succeeded"]
        return {
            "succeeded": int(succeeded),
            "failed": int(failed),
            "cancelled": int(cancelled),
            "success_rate": _rate(int(succeeded), int(total)),
            "avg_latency_ms": round(float(avg_latency), 3),
            "p50_latency_ms": await self._percentile(succeeded_conditions, int(succeeded), 50),
            "p95_latency_ms": await self._percentile(succeeded_conditions, int(succeeded), 95),
            "input_tokens": int(tokens_in),
            "output_tokens": int(tokens_out),
            "total_tokens": int(tokens),
        }

    async def _percentile(
        self, conditions: list[ColumnElement[bool]], count: int, percent: int
    ) -> float:
        if count == 0:
            return 0.0
        rank = max(1, math.ceil(percent / 100 * count))  # nearest-rank, 1-based
        query: Select[Any] = (
            select(RUN.elapsed_ms)
            .where(*conditions)
            .order_by(RUN.elapsed_ms)
            .limit(1)
            .offset(rank - 1)
        )
        value = await self.session.scalar(query)
        return round(float(value or 0.0), 3)

    async def _daily(self, conditions: list[ColumnElement[bool]]) -> list[DailyStatistics]:
        day = _day_expression(self.session.get_bind().dialect.name).label("day")
        rows = await self.session.execute(
            select(
                day,
                func.count(RUN.id),
                _count_status("succeeded"),
                _count_status("failed"),
                _count_status("cancelled"),
                _avg_succeeded_latency(),
                func.coalesce(func.sum(RUN.total_tokens), 0),
            )
            .where(*conditions)
            .group_by(day)
            .order_by(day)
        )
        return [
            DailyStatistics(
                day=row[0] if isinstance(row[0], date) else date.fromisoformat(str(row[0])),
                runs=int(row[1]),
                succeeded=int(row[2]),
                failed=int(row[3]),
                cancelled=int(row[4]),
                avg_latency_ms=round(float(row[5]), 3),
                total_tokens=int(row[6]),
            )
            for row in rows
        ]

    async def _nodes(self, conditions: list[ColumnElement[bool]]) -> list[NodeStatistics]:
        rows = await self.session.execute(
            select(
                NODE.node_id,
                NODE.node_type,
                func.count(NODE.id),
                func.coalesce(func.sum(case((NODE.status == "failed", 1), else_=0)), 0),
                func.coalesce(func.avg(NODE.elapsed_ms), 0.0),
            )
            .join(RUN, RUN.id == NODE.run_id)
            .where(*conditions)
            .group_by(NODE.node_id, NODE.node_type)
            .order_by(NODE.node_id, NODE.node_type)
        )
        return [
            NodeStatistics(
                node_id=row[0],
                node_type=row[1],
                executions=int(row[2]),
                failures=int(row[3]),
                avg_latency_ms=round(float(row[4]), 3),
            )
            for row in rows
        ]

    async def _versions(self, conditions: list[ColumnElement[bool]]) -> list[VersionStatistics]:
        rows = await self.session.execute(
            select(
                RUN.version_id,
                RUN.version_number,
                func.count(RUN.id),
                _count_status("succeeded"),
                _count_status("failed"),
                _count_status("cancelled"),
                _avg_succeeded_latency(),
            )
            .where(*conditions)
            .group_by(RUN.version_id, RUN.version_number)
            .order_by(RUN.version_number.desc().nulls_last(), RUN.version_id)
        )
        return [
            VersionStatistics(
                version_id=row[0],
                version_number=row[1],
                runs=int(row[2]),
                succeeded=int(row[3]),
                failed=int(row[4]),
                cancelled=int(row[5]),
                success_rate=_rate(int(row[3]), int(row[2])),
                avg_latency_ms=round(float(row[6]), 3),
            )
            for row in rows
        ]
