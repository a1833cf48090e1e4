"""`RunRecorder`: writes one finished run and its node executions as rows, cheaply and safely.

A run is recorded once, at its end, in a single transaction: one INSERT for the run and one
executemany INSERT for all its node rows (Core inserts, no ORM unit of work), because chat
throughput is benchmarked with recording on; a chat turn's record goes through `GroupCommit`
with its answer (`RecordingObserver`), sharing a transaction with other turns'. Values larger
than ``ExecutionSettings.value_max_chars`` are truncated with a visible marker, and each row
lists what was truncated (``truncated: ["inputs.query", "outputs.text"]``) so a replay never
mistakes a clipped value for the real one. Recording never raises: a failure is logged and
reported as ``False`` so a user's chat still gets its answer.

`record_from_end` turns how a run ended (the engine's `RunEnd`: a result, or the exception that
left none) and the `RunInfo` only the caller knows (who, which version, which session) into the
one `RunRecord` that the recorder stores and that metrics and traces are made from.

    recorder = RunRecorder(db.sessionmaker, ExecutionSettings())
    ok = await recorder.record(record_from_end(end, info))
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import perf_counter_ns
from typing import Any

import anyio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from snapagent.db.base import new_id
from snapagent.db.group_commit import Writes
from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
from snapagent.services.executions import ExecutionSettings
from snapagent.workflow.handle import RunEnd
from snapagent.workflow.result import RunStatus, WorkflowRunResult

__all__ = [
    "TRUNCATION_MARKER",
    "NodeRecord",
    "RunInfo",
    "RunRecord",
    "RunRecorder",
    "clip_mapping",
    "clip_values",
    "record_from_end",
    "record_from_result",
    "unfinished_record",
]

log = logging.getLogger(__name__)

TRUNCATION_MARKER = "_truncated"


@dataclass(slots=True)
class NodeRecord:
    """What is stored about one node execution."""

    node_id: str
    node_type: str
    index: int
    status: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    elapsed_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    retries: int = 0
    title: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    scope: Sequence[Sequence[Any]] | None = None
    """Inside an iteration/loop body: ``[[container id, index], ...]``."""
    branch: str | None = None
    """The branch port a branching node took."""
    reused: bool = False
    """Its outputs were copied from the replayed run, not computed."""


@dataclass(slots=True)
class RunRecord:
    """What is stored about one run; ``status`` is succeeded, failed or cancelled."""

    run_id: str
    bot_id: str
    status: str
    started_at: datetime
    finished_at: datetime
    elapsed_ms: float
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    version_id: str | None = None
    version_number: int | None = None
    session_id: str | None = None
    user_id: str | None = None
    engine: str = "v2"
    mode: str = "blocking"
    trigger: str = "chat"
    rerun_of: str | None = None
    rerun_from_node: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    nodes: Sequence[NodeRecord] = ()


@dataclass(slots=True)
class RunInfo:
    """Who ran what, and when: everything about a run the engine's result does not carry
    (``titles``: the node titles of the graph, for the node records)."""

    run_id: str
    bot_id: str
    inputs: Mapping[str, Any]
    titles: Mapping[str, str | None] = field(default_factory=dict)
    version_id: str | None = None
    version_number: int | None = None
    session_id: str | None = None
    user_id: str | None = None
    engine: str = "v2"
    mode: str = "blocking"
    trigger: str = "chat"
    """``chat`` (counted by statistics) or ``debug`` (listed, never counted)."""
    rerun_of: str | None = None
    rerun_from_node: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_ns: int = field(default_factory=perf_counter_ns)


def _clip_text(text: str, cap: int) -> str:
    if len(text) <= cap:
        return text
    return f"{text[:cap]}…[{TRUNCATION_MARKER}: {len(text)} chars]"


# Plain JSON values (the usual node inputs and outputs) are measured by one encoder made
# once; `json.dumps` with a ``default`` builds a new encoder per call (~3 us of a turn's
# record each). Anything it cannot encode goes the general way below, with the same text.
_PLAIN_JSON = json.JSONEncoder(ensure_ascii=False)
_SCALARS = (bool, int, float)


def _clip_value(value: Any, cap: int) -> Any:
    if isinstance(value, str):
        return _clip_text(value, cap)
    if value is None or isinstance(value, _SCALARS):
        return value
    try:
        text = _PLAIN_JSON.encode(value)
    except (TypeError, ValueError):
        pass  # an object without a JSON form (or a cycle): the general way decides
    else:
        if len(text) > cap:
            return {TRUNCATION_MARKER: True, "original_chars": len(text), "preview": text[:cap]}
        return value
    converted = False

    def fallback(obj: Any) -> Any:
        nonlocal converted
        converted = True
        to_dict = getattr(obj, "to_dict", None)
        return to_dict() if callable(to_dict) else str(obj)

    text = json.dumps(value, ensure_ascii=False, default=fallback)
    if len(text) > cap:
        return {TRUNCATION_MARKER: True, "original_chars": len(text), "preview": text[:cap]}
    # Objects without a JSON form (dataclasses, sets...) are stored as what json.dumps made.
    return json.loads(text) if converted else value


def clip_mapping(values: Mapping[str, Any] | None, cap: int) -> dict[str, Any]:
    """A JSON-safe copy of ``values`` with every top-level value clipped to ``cap`` chars.

    >>> clip_mapping({"text": "x" * 5}, cap=3)["text"]
    'xxx…[_truncated: 5 chars]'
    """
    return clip_values(values, cap)[0]


def clip_values(values: Mapping[str, Any] | None, cap: int) -> tuple[dict[str, Any], list[str]]:
    """`clip_mapping`, and the keys whose values were clipped.

    >>> clip_values({"a": "x" * 5, "b": "y"}, cap=3)[1]
    ['a']
    """
    if not values:
        return {}, []
    clipped: dict[str, Any] = {}
    truncated: list[str] = []
    for key, value in values.items():
        kept = clipped[str(key)] = _clip_value(value, cap)
        if kept is not value and _is_clipped(value, kept):
            truncated.append(str(key))
    return clipped, truncated


def _is_clipped(original: Any, kept: Any) -> bool:
    if isinstance(original, str):
        return len(kept) != len(original) or kept != original
    return (
        isinstance(kept, dict)
        and kept.get(TRUNCATION_MARKER) is True
        and not (isinstance(original, Mapping) and original.get(TRUNCATION_MARKER) is True)
    )


def _clipped_pair(
    inputs: Mapping[str, Any] | None, outputs: Mapping[str, Any] | None, cap: int
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Clipped inputs and outputs and what was clipped (``["inputs.query", ...]``)."""
    kept_in, cut_in = clip_values(inputs, cap)
    kept_out, cut_out = clip_values(outputs, cap)
    return kept_in, kept_out, [f"inputs.{k}" for k in cut_in] + [f"outputs.{k}" for k in cut_out]


class RunRecorder:
    """Stores :class:`RunRecord` s; see the module docstring."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: ExecutionSettings | None = None
    ) -> None:
        self.sessions = sessions
        self.settings = settings or ExecutionSettings()

    def rows(self, record: RunRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The run row and the node rows, clipped, ready for INSERT."""
        cap = self.settings.value_max_chars
        now = datetime.now(UTC)
        run_inputs, run_outputs, run_truncated = _clipped_pair(record.inputs, record.outputs, cap)
        run_row = {
            "id": record.run_id,
            "bot_id": record.bot_id,
            "version_id": record.version_id,
            "version_number": record.version_number,
            "session_id": record.session_id,
            "user_id": record.user_id,
            "engine": record.engine,
            "mode": record.mode,
            "trigger": record.trigger,
            "rerun_of": record.rerun_of,
            "rerun_from_node": record.rerun_from_node[:100] if record.rerun_from_node else None,
            "status": record.status,
            "inputs": run_inputs,
            "outputs": run_outputs,
            "truncated": run_truncated,
            "error": _clip_text(record.error, cap) if record.error else None,
            "error_type": (record.error_type or "")[:100] or None,
            "elapsed_ms": float(record.elapsed_ms),
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "total_tokens": record.input_tokens + record.output_tokens,
            "node_count": len(record.nodes),
            "started_at": record.started_at,
            "finished_at": record.finished_at,
            "created_at": now,
        }
        node_rows = [self._node_row(record.run_id, node, cap) for node in record.nodes]
        return run_row, node_rows

    def writes(self, record: RunRecord) -> Writes:
        """The rows as one `Writes` (for a shared transaction: `GroupCommit`)."""
        run_row, node_rows = self.rows(record)
        return (
            Writes().insert(WorkflowExecutionRun, run_row).insert(WorkflowNodeExecution, *node_rows)
        )

    @staticmethod
    def _node_row(run_id: str, node: NodeRecord, cap: int) -> dict[str, Any]:
        inputs, outputs, truncated = _clipped_pair(node.inputs, node.outputs, cap)
        return {
            "id": new_id(),
            "run_id": run_id,
            "node_id": node.node_id[:100],
            "node_type": node.node_type[:50],
            "title": node.title[:200] if node.title else None,
            "index": node.index,
            "status": node.status,
            "inputs": inputs,
            "outputs": outputs,
            "truncated": truncated,
            "branch": node.branch[:100] if node.branch else None,
            "reused": node.reused,
            "error": _clip_text(node.error, cap) if node.error else None,
            "elapsed_ms": float(node.elapsed_ms),
            "input_tokens": node.input_tokens,
            "output_tokens": node.output_tokens,
            "retries": node.retries,
            "started_at": node.started_at,
            "finished_at": node.finished_at,
            "scope": [list(level) for level in node.scope] if node.scope else None,
        }

    async def stage(self, session: AsyncSession, record: RunRecord) -> None:
        """Insert the rows in the caller's transaction (which decides commit or rollback)."""
        await self.writes(record).apply(session)

    async def record(self, record: RunRecord) -> bool:
        """Store the run; True on success. Shielded: a cancelled request still gets its record."""
        with anyio.CancelScope(shield=True):
            try:
                async with self.sessions() as session, session.begin():
                    await self.stage(session, record)
            except Exception:
                log.exception(
                    "could not record workflow run %s (bot %s)", record.run_id, record.bot_id
                )
                return False
        return True


def _offset(started_at: datetime, started_ns: int, stamp_ns: int) -> datetime | None:
    if not stamp_ns:
        return None
    return started_at + timedelta(microseconds=(stamp_ns - started_ns) / 1000)


def record_from_end(end: RunEnd, info: RunInfo) -> RunRecord:
    """The record of a run however it ended: from its result, else as ``cancelled`` (its task
    was cancelled from outside) or ``failed`` (the engine itself broke) with no node records."""
    if end.result is not None:
        return record_from_result(end.result, context=info)
    if isinstance(end.exception, asyncio.CancelledError) or end.exception is None:
        return unfinished_record(info, "the request was cancelled")
    return unfinished_record(
        info,
        f"the workflow engine failed: {end.exception}",
        status=RunStatus.FAILED.value,
        error_type=type(end.exception).__name__,
    )


def record_from_result(
    result: WorkflowRunResult,
    *,
    context: RunInfo,
    titles: Mapping[str, str | None] | None = None,
) -> RunRecord:
    """Turn the engine's result into a :class:`RunRecord` (wall-clock times from perf stamps).
    ``titles`` default to ``context.titles``."""
    titles = titles if titles is not None else context.titles
    flat = result.flattened_nodes()
    nodes = [
        NodeRecord(
            node_id=node.node_id,
            node_type=node.node_type,
            index=position if node.index >= 0 else node.index,
            status=node.status.value,
            inputs=node.inputs,
            outputs=node.outputs,
            error=node.error.message if node.error else node.skip_reason,
            elapsed_ms=node.elapsed_s * 1000,
            input_tokens=node.usage.input_tokens,
            output_tokens=node.usage.output_tokens,
            retries=node.retries,
            title=titles.get(node.node_id),
            started_at=_offset(context.started_at, context.started_ns, node.started_ns),
            finished_at=_offset(context.started_at, context.started_ns, node.finished_ns),
            scope=node.scope or None,
            branch=node.branch,
            reused=node.replayed,
        )
        for position, node in enumerate(flat)
    ]
    elapsed_ms = result.elapsed_s * 1000
    return RunRecord(
        run_id=context.run_id,
        bot_id=context.bot_id,
        status=result.status.value,
        started_at=context.started_at,
        finished_at=context.started_at + timedelta(milliseconds=elapsed_ms),
        elapsed_ms=elapsed_ms,
        inputs=context.inputs,
        outputs=result.outputs,
        error=result.error.message if result.error else None,
        error_type=result.error.type if result.error else None,
        version_id=context.version_id,
        version_number=context.version_number,
        session_id=context.session_id,
        user_id=context.user_id,
        engine=context.engine,
        mode=context.mode,
        trigger=context.trigger,
        rerun_of=context.rerun_of,
        rerun_from_node=context.rerun_from_node,
        input_tokens=result.usage.input_tokens,
        output_tokens=result.usage.output_tokens,
        nodes=nodes,
    )


def unfinished_record(
    context: RunInfo,
    reason: str,
    *,
    status: str = "cancelled",
    error_type: str = "CancelledError",
) -> RunRecord:
    """A run that ended without an engine result (its task was cancelled, or the engine broke)."""
    now = datetime.now(UTC)
    return RunRecord(
        run_id=context.run_id,
        bot_id=context.bot_id,
        status=status,
        started_at=context.started_at,
        finished_at=now,
        elapsed_ms=(now - context.started_at).total_seconds() * 1000,
        inputs=context.inputs,
        error=reason,
        error_type=error_type,
        version_id=context.version_id,
        version_number=context.version_number,
        session_id=context.session_id,
        user_id=context.user_id,
        engine=context.engine,
        mode=context.mode,
        trigger=context.trigger,
        rerun_of=context.rerun_of,
        rerun_from_node=context.rerun_from_node,
    )
