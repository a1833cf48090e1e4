"""`ExecutionService`: read a bot's run records (list, detail) and prune old ones.

Runs are written by :class:`snapagent.services.run_recorder.RunRecorder`; statistics live in
:mod:`snapagent.services.statistics`. Listing is newest first with an opaque cursor, so a page
boundary never skips or repeats a run even when new runs arrive between requests; chat and
debug runs are listed together unless ``trigger`` picks one. A run's detail shows every node's
inputs and outputs exactly as recorded, with the values that were truncated named
(``truncated: ["outputs.text"]``).

    service = ExecutionService(session)
    page = await service.list_runs(bot_id, limit=10, status="failed", engine="v2", trigger="debug")
    more = await service.list_runs(bot_id, limit=10, cursor=page.next_cursor)
    detail = await service.get_run(bot_id, page.data[0].id)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from snapagent.db.models.executions import (
    RUN_ENGINES,
    RUN_STATUSES,
    RUN_TRIGGERS,
    WorkflowExecutionRun,
    WorkflowNodeExecution,
)
from snapagent.db.pagination import MAX_PAGE_SIZE, Page, SortKey, page_of, paginate
from snapagent.errors import InputValidationError, NotFoundError

__all__ = [
    "MAX_PAGE_SIZE",
    "ExecutionService",
    "ExecutionSettings",
    "NodeExecutionPublic",
    "PruneReport",
    "RunDetail",
    "RunPage",
    "RunSummary",
    "looks_truncated",
    "prune_runs",
]

TRUNCATION_MARKER = "_truncated"
# How the recorder marks a clipped string (`run_recorder._clip_text`).
_CLIPPED_TEXT = re.compile(r"…\[_truncated: \d+ chars\]\Z")


class ExecutionSettings(BaseSettings):
    """Knobs of execution recording (environment: ``SNAPAGENT_EXECUTIONS_*``)."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_EXECUTIONS_", extra="ignore")

    value_max_chars: int = Field(
        default=16_000,
        ge=100,
        description="Stored inputs/outputs/errors longer than this (as JSON) are truncated.",
    )
    retention_days: int = Field(
        default=90, ge=1, description="`snapagent executions prune` deletes runs older than this."
    )
    prune_batch_size: int = Field(default=500, ge=1, le=10_000)
    record_batch_max: int = Field(
        default=64,
        ge=1,
        le=1000,
        description="Most chat turns whose records and answers share one transaction "
        "(group commit; 1: a transaction per turn).",
    )
    record_batches_in_flight: int = Field(
        default=2,
        ge=1,
        le=16,
        description="PostgreSQL: group-commit transactions of one process open at once (a batch "
        "fills while another waits for its commit). SQLite always has one: a single writer.",
    )
    record_batch_yields: int = Field(
        default=2,
        ge=0,
        le=16,
        description="Event-loop turns a group commit's writer lets pass before taking its "
        "batch, so that turns finishing meanwhile join it (0: take what is queued at once).",
    )
    record_sqlite_direct: bool = Field(
        default=True,
        description="SQLite: a group commit of rows alone goes below the ORM (one executemany "
        "per table and the COMMIT in one thread hop); false: through an ORM session.",
    )


class RunSummary(BaseModel):
    """One run in a list."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="The run's id (`run_id` in chat answers).")
    bot_id: str = Field(description="The bot that ran.")
    version_id: str | None = Field(description="The workflow version that ran; null for a V1 run.")
    version_number: int | None = Field(
        description="That version's number; null for a V1 run or a draft."
    )
    session_id: str | None = Field(description="The chat or debug session of the turn.")
    engine: str = Field(description="`v1` or `v2`: the engine that ran the turn.")
    mode: str = Field(
        description="`blocking` (one JSON answer) or `streaming` (Server-Sent Events)."
    )
    trigger: str = Field(description="`chat` (a user's turn) or `debug` (never in statistics).")
    rerun_of: str | None = Field(default=None, description="The run this one replays.")
    rerun_from_node: str | None = Field(
        default=None, description="The node a replay ran again from (upstream nodes reused)."
    )
    status: str = Field(description="`succeeded`, `failed` or `cancelled`.")
    error: str | None = Field(description="Why the run failed or stopped; null if it succeeded.")
    error_type: str | None = Field(
        description="The error's kind (a short code or an exception's class name); null if none."
    )
    elapsed_ms: float = Field(description="Wall-clock duration of the run, in milliseconds.")
    input_tokens: int = Field(description="Model input (prompt) tokens the run used.")
    output_tokens: int = Field(description="Model output (completion) tokens the run used.")
    total_tokens: int = Field(description="Input plus output tokens.")
    node_count: int = Field(description="Node executions recorded for the run.")
    started_at: datetime = Field(description="When the run started (UTC).")
    finished_at: datetime = Field(description="When it ended (UTC).")


class NodeExecutionPublic(BaseModel):
    """One node execution of a run."""

    model_config = ConfigDict(from_attributes=True)

    node_id: str = Field(description="The node's id in the graph.")
    node_type: str = Field(description="Its node type.")
    title: str | None = Field(description="Its display title, if it had one.")
    index: int = Field(
        description="The order the node started in within the run, from 0; a body's nodes "
        "follow their container, in item order."
    )
    status: str = Field(description="`succeeded`, `failed`, `skipped` or `cancelled`.")
    inputs: dict[str, Any] = Field(description="The values its input ports received, by port.")
    outputs: dict[str, Any] = Field(description="The values it wrote, by output port.")
    error: str | None = Field(description="Why it failed; null if it did not.")
    elapsed_ms: float = Field(description="How long it ran, in milliseconds.")
    input_tokens: int = Field(description="Model input tokens it used.")
    output_tokens: int = Field(description="Model output tokens it used.")
    retries: int = Field(description="Retries after failed attempts (its retry policy).")
    started_at: datetime | None = Field(description="When it started (UTC); null if it never did.")
    finished_at: datetime | None = Field(description="When it ended (UTC); null if it never did.")
    scope: list[tuple[str, int]] | None = Field(
        default=None,
        description="Inside an iteration/loop body: [[container id, item or round index], "
        "...], outermost first; null for a top-level node.",
    )
    branch: str | None = Field(default=None, description="The branch port it took.")
    reused: bool = Field(
        default=False, description="Its outputs were copied from the replayed run, not computed."
    )
    truncated: list[str] = Field(
        default_factory=list,
        description='Values clipped when recorded (`["inputs.context", "outputs.text"]`): '
        "they are shown with a `_truncated` marker and cannot be replayed.",
    )

    @field_validator("truncated", mode="before")
    @classmethod
    def _unknown_is_none(cls, value: Any) -> Any:
        return [] if value is None else value  # `node_public` fills older rows in


class RunDetail(RunSummary):
    """A run with its inputs, outputs and node executions (in start order)."""

    inputs: dict[str, Any] = Field(
        description="The values the run started with (the start node's)."
    )
    outputs: dict[str, Any] = Field(description="What the run produced (the end node's outputs).")
    truncated: list[str] = Field(
        default_factory=list, description="The run's inputs/outputs clipped when recorded."
    )
    nodes: list[NodeExecutionPublic] = Field(description="Its node executions, in start order.")


class RunPage(Page):
    """A page of runs, newest first (`snapagent.db.pagination`)."""

    data: list[RunSummary] = Field(description="The bot's runs on this page, newest first.")


@dataclass(frozen=True, slots=True)
class PruneReport:
    cutoff: datetime
    runs: int
    node_executions: int
    batches: int
    dry_run: bool


_RUN_ORDER = (
    SortKey(WorkflowExecutionRun.started_at, descending=True, kind=datetime),
    SortKey(WorkflowExecutionRun.id, descending=True),
)


class ExecutionService:
    """Reads one bot's execution records. The caller has already checked bot ownership."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_runs(
        self,
        bot_id: str,
        *,
        limit: int = 10,
        cursor: str | None = None,
        status: str | None = None,
        version: int | None = None,
        engine: str | None = None,
        trigger: str | None = None,
    ) -> RunPage:
        if status is not None and status not in RUN_STATUSES:
            raise InputValidationError(
                f"status must be one of {', '.join(RUN_STATUSES)}", field="status"
            )
        if engine is not None and engine not in RUN_ENGINES:
            raise InputValidationError(
                f"engine must be one of {', '.join(RUN_ENGINES)}", field="engine"
            )
        if trigger is not None and trigger not in RUN_TRIGGERS:
            raise InputValidationError(
                f"trigger must be one of {', '.join(RUN_TRIGGERS)}", field="trigger"
            )
        run = WorkflowExecutionRun
        query = select(run).where(run.bot_id == bot_id)
        if trigger is not None:
            query = query.where(run.trigger == trigger)
        if status is not None:
            query = query.where(run.status == status)
        if version is not None:
            query = query.where(run.version_number == version)
        if engine is not None:
            query = query.where(run.engine == engine)
        query = paginate(query, _RUN_ORDER, limit=limit, cursor=cursor)
        rows, next_cursor = page_of(
            list((await self.session.scalars(query)).all()),
            limit=limit,
            key=lambda row: (row.started_at, row.id),
        )
        return RunPage(
            data=[RunSummary.model_validate(row) for row in rows], next_cursor=next_cursor
        )

    async def get_run(self, bot_id: str, run_id: str) -> RunDetail:
        row = await self.get_record(bot_id, run_id)
        detail = RunDetail.model_validate(
            {
                **RunSummary.model_validate(row).model_dump(),
                "inputs": row.inputs,
                "outputs": row.outputs,
                "truncated": truncated_of(row),
                "nodes": [],
            }
        )
        detail.nodes = [node_public(node) for node in row.nodes]
        return detail

    async def get_record(self, bot_id: str, run_id: str) -> WorkflowExecutionRun:
        """The run's row with its node rows loaded; NotFoundError for another bot's run."""
        run = WorkflowExecutionRun
        row = await self.session.scalar(
            select(run)
            .where(run.id == run_id, run.bot_id == bot_id)
            .options(selectinload(run.nodes))
        )
        if row is None:
            raise NotFoundError(f"workflow execution {run_id} not found")
        return row


def looks_truncated(value: Any) -> bool:
    """Whether a stored value carries the recorder's truncation marker (for rows recorded
    before the list of truncated values was kept)."""
    if isinstance(value, str):
        return _CLIPPED_TEXT.search(value) is not None
    return isinstance(value, dict) and value.get(TRUNCATION_MARKER) is True


def truncated_of(row: WorkflowExecutionRun | WorkflowNodeExecution) -> list[str]:
    """The clipped values of a run or node row: as recorded, else found by their marker."""
    if row.truncated is not None:
        return [str(name) for name in row.truncated]
    return [
        f"{side}.{key}"
        for side, values in (("inputs", row.inputs), ("outputs", row.outputs))
        for key, value in (values or {}).items()
        if looks_truncated(value)
    ]


def node_public(row: WorkflowNodeExecution) -> NodeExecutionPublic:
    public = NodeExecutionPublic.model_validate(row)
    public.truncated = truncated_of(row)
    return public


async def prune_runs(
    sessions: async_sessionmaker[AsyncSession],
    *,
    older_than_days: int,
    batch_size: int = 500,
    dry_run: bool = False,
    now: datetime | None = None,
) -> PruneReport:
    """Delete runs (and their node executions) that started more than N days ago.

    Each batch is its own short transaction, so concurrent chats keep recording while a large
    backlog is pruned.
    """
    if older_than_days < 0:
        raise InputValidationError("must be 0 or more", field="older_than_days")
    if batch_size < 1:
        raise InputValidationError("must be 1 or more", field="batch_size")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
    run, node = WorkflowExecutionRun, WorkflowNodeExecution
    old_runs = select(run.id).where(run.started_at < cutoff)
    if dry_run:
        async with sessions() as session:
            runs = await session.scalar(select(func.count()).select_from(old_runs.subquery()))
            nodes = await session.scalar(
                select(func.count()).select_from(node).where(node.run_id.in_(old_runs))
            )
        return PruneReport(cutoff, int(runs or 0), int(nodes or 0), 0, dry_run=True)
    total_runs = total_nodes = batches = 0
    while True:
        async with sessions() as session, session.begin():
            ids = list(await session.scalars(old_runs.order_by(run.started_at).limit(batch_size)))
            if not ids:
                break
            # Node rows first: SQLite connections may run without foreign-key cascades.
            nodes_result = await session.execute(delete(node).where(node.run_id.in_(ids)))
            await session.execute(delete(run).where(run.id.in_(ids)))
        total_runs += len(ids)
        total_nodes += _rowcount(nodes_result)
        batches += 1
    return PruneReport(cutoff, total_runs, total_nodes, batches, dry_run=False)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
