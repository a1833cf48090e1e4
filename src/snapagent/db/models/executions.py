"""Execution records: one row per workflow run, one row per node execution of that run.

Rows are written once, when a run ends (succeeded, failed or cancelled), by
:class:`snapagent.services.run_recorder.RunRecorder` in a single transaction; nothing updates
them afterwards, so reads never race with a half-written run.

    run = WorkflowExecutionRun(bot_id=bot.id, status="succeeded", engine="v2", ...)
    session.add(run)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from snapagent.db.base import Base, UTCDateTime, id_column, utcnow

__all__ = [
    "RUN_ENGINES",
    "RUN_STATUSES",
    "RUN_TRIGGERS",
    "WorkflowExecutionRun",
    "WorkflowNodeExecution",
]

RUN_STATUSES = ("succeeded", "failed", "cancelled")
RUN_ENGINES = ("v1", "v2")
RUN_TRIGGERS = ("chat", "debug")
"""``chat``: a user's chat turn (what statistics count); ``debug``: a run started from the
debugging endpoints (a version or one node run by hand, a replay) - listed, never counted."""


class WorkflowExecutionRun(Base):
    """One run of a bot's workflow (table ``workflow_execution_runs``).

    ``engine`` is ``"v2"`` for the port-based engine, ``"v1"`` for a legacy bot's workflow;
    ``mode`` says whether the client asked for a streamed answer; ``trigger`` is ``chat`` or
    ``debug`` (`RUN_TRIGGERS`). A replay links to the run it replays (``rerun_of``) and names
    the node it ran again from. ``truncated`` lists the values clipped when recorded
    (``["inputs.query"]``; NULL for runs recorded before it was kept).
    """

    __tablename__ = "workflow_execution_runs"
    __table_args__ = (
        # Newest-first listing and cursor pagination of one bot's runs.
        Index("ix_workflow_execution_runs_bot_started", "bot_id", "started_at", "id"),
        # Retention pruning scans by age across all bots.
        Index("ix_workflow_execution_runs_started_at", "started_at"),
    )

    id: Mapped[str] = id_column()
    bot_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("bots.id", ondelete="CASCADE"), nullable=False
    )
    # No foreign key: a run record outlives the version row it ran (versions may be deleted
    # with their bot only, but the number is what reports group by).
    version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    version_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    engine: Mapped[str] = mapped_column(String(8), nullable=False, default="v2")
    mode: Mapped[str] = mapped_column(String(16), nullable=False, default="blocking")
    trigger: Mapped[str] = mapped_column(
        String(16), nullable=False, default="chat", server_default="chat"
    )
    rerun_of: Mapped[str | None] = mapped_column(String(32), nullable=True)
    rerun_from_node: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    truncated: Mapped[list[Any] | None] = mapped_column(nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    elapsed_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    node_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    nodes: Mapped[list[WorkflowNodeExecution]] = relationship(
        back_populates="run",
        order_by="WorkflowNodeExecution.index",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class WorkflowNodeExecution(Base):
    """One node's execution inside a run (table ``workflow_node_executions``).

    ``index`` is the order in which the node started within its run; the nodes of an
    iteration/loop body follow their container, in item order, with their ``scope``.
    ``branch`` is the branch port a branching node took; ``reused`` marks a node whose outputs
    were copied from the run a replay replays instead of computed; ``truncated`` lists the
    clipped values (``["outputs.text"]``; NULL for rows recorded before it was kept).
    """

    __tablename__ = "workflow_node_executions"
    __table_args__ = (Index("ix_workflow_node_executions_run_index", "run_id", "index"),)

    id: Mapped[str] = id_column()
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("workflow_execution_runs.id", ondelete="CASCADE"), nullable=False
    )
    node_id: Mapped[str] = mapped_column(String(100), nullable=False)
    node_type: Mapped[str] = mapped_column(String(50), nullable=False)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    truncated: Mapped[list[Any] | None] = mapped_column(nullable=True)
    branch: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reused: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    elapsed_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    retries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Inside an iteration/loop body: [[container id, item or round index], ...], outermost
    # first; NULL for a top-level node.
    scope: Mapped[list[Any] | None] = mapped_column(nullable=True)

    run: Mapped[WorkflowExecutionRun] = relationship(back_populates="nodes", lazy="raise")
