"""The state of one run and how a finished node's outcome spreads through the graph.

`RunState` holds the per-run tables (pending dependency counts, taken counts, delivered input
values, node records) and applies outcomes: a success takes the node's data edges and its chosen
branch, a ``fail_branch`` failure takes only the `fail`/`error` edges, a skip takes nothing.
Each decided edge lowers its target's pending count; the last decision makes the target ready
(at least one gating edge taken) or skips it, and skipping propagates. `Run` (runner.py) drives.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from time import perf_counter_ns
from typing import Any

from snapagent.errors import NodeExecutionError, RunLimitError
from snapagent.workflow import events as ev
from snapagent.workflow.conversation import CONVERSATION_NODE_ID, ConversationState
from snapagent.workflow.node import NodeResult, RunContext
from snapagent.workflow.plan import EDGE_BRANCH, EDGE_FAIL, EDGE_SUCCESS, ExecutionPlan, PlanNode
from snapagent.workflow.pool import VariablePool
from snapagent.workflow.replay import ReplayedNode
from snapagent.workflow.result import NodeRunResult, NodeStatus, RunError, RunLimits, RunStatus
from snapagent.workflow.schema import ErrorStrategy
from snapagent.workflow.services import ServiceContainer, TokenUsage
from snapagent.workflow.system_names import RUN_ID

__all__ = ["NO_USAGE", "EventSink", "RunState", "Scope"]

EventSink = Callable[[ev.WorkflowEvent], None]
NO_USAGE = TokenUsage()
Scope = tuple[tuple[str, int], ...]
"""Where a body run sits: ``(("each", 2),)`` is item 2 of container ``each``; nested bodies
add a pair each, outermost first."""


class RunState:
    """Per-run tables and outcome propagation. Single-threaded asyncio: no locks; state only
    changes between awaits."""

    def __init__(
        self,
        plan: ExecutionPlan,
        services: ServiceContainer,
        inputs: dict[str, Any],
        sys: dict[str, Any],
        limits: RunLimits,
        sink: EventSink | None,
        *,
        parent: RunState | None = None,
        scope: Scope = (),
        links: Mapping[str, Mapping[str, Any]] | None = None,
        conversation: ConversationState | None = None,
        replay: Mapping[str, ReplayedNode] | None = None,
    ) -> None:
        self.plan = plan
        # Recorded outcomes standing in for these nodes (a replay); None in a normal run.
        self.replay = replay or None
        self.limits = limits
        self.sink = sink
        self.run_id = str(sys[RUN_ID])
        self.pool = VariablePool(sys, max_value_bytes=limits.max_value_bytes)
        for node_id, outputs in (links or {}).items():
            self.pool.link(node_id, outputs)
        # One state per run, shared with its body runs: a write is seen by whoever runs after.
        self.conversation = conversation or ConversationState(())
        self.pool.link(CONVERSATION_NODE_ID, self.conversation.values)
        # A container's body runs as a run of its own inside this one (see subgraph.py): it
        # counts steps and keeps the deadline of the outermost run, its `root` (None: this is
        # the outermost run; never `self`, which would make every run a reference cycle that
        # only the cyclic GC frees).
        self.root: RunState | None = None if parent is None else (parent.root or parent)
        self.scope = scope
        self.body_results: dict[str, list[NodeRunResult]] = {}
        self.t0 = 0
        self.ctx = RunContext(
            services,
            inputs,
            self.pool.sys,
            self._text if sink else None,
            host=self,
            conversation=self.conversation,
        )
        self.inputs = inputs
        count = len(plan.nodes)
        self.pending = [n.dependency_count for n in plan.nodes]
        self.taken = [0] * count
        self.slots: list[dict[str, Any] | None] = [None] * count
        self.results: list[NodeRunResult | None] = [None] * count
        self.remaining = count
        self.started = 0
        self.steps = 0
        self.status = RunStatus.SUCCEEDED
        self.error: RunError | None = None
        self.stopping = False
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancelled_by_us: set[asyncio.Task[Any]] = set()
        self.done = asyncio.Event()
        self.main_task: asyncio.Task[Any] | None = None
        self.main_busy = False
        self.loop: asyncio.AbstractEventLoop = asyncio.get_running_loop()
        self.deadline: float | None = None
        self.timer: asyncio.TimerHandle | None = None

    def _text(self, node_id: str, text: str) -> None:
        answers = self.plan.answer_nodes
        if self.sink is not None and (not answers or node_id in answers):
            self.sink(ev.TextChunk(node_id, text, perf_counter_ns()))

    def _stop(self, status: RunStatus, error: RunError) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.status = status
        self.error = error
        current = asyncio.current_task()
        # The caller's task is interrupted only inside a node; waiting for the run, it is
        # woken by `done` instead (cancelling it there would look like an outside cancel).
        main = self.main_task if self.main_busy else None
        for task in (*self.tasks, main):
            if task is not None and task is not current and not task.done():
                self.cancelled_by_us.add(task)
                task.cancel()
        self.done.set()

    def _succeed(
        self,
        pn: PlanNode,
        record: NodeRunResult,
        outcome: Any,
        ready: list[int],
        *,
        used_default: bool,
    ) -> None:
        if outcome.__class__ is NodeResult:
            outputs, branch, usage = outcome.outputs, outcome.branch, outcome.usage or NO_USAGE
        else:
            outputs, branch, usage = outcome, None, NO_USAGE
        try:
            if not isinstance(outputs, dict):
                if not isinstance(outputs, Mapping):
                    raise NodeExecutionError(
                        f"node {pn.node_id!r} returned {type(outputs).__name__}; a node returns "
                        "a dict of outputs or a NodeResult",
                        node_id=pn.node_id,
                    )
                outputs = dict(outputs)
            if pn.branches and branch not in pn.branches:
                raise NodeExecutionError(
                    f"node {pn.node_id!r} chose branch {branch!r}; its branches are "
                    f"{sorted(pn.branches)}",
                    node_id=pn.node_id,
                )
            self.pool.set_outputs(pn.node_id, outputs)
        except NodeExecutionError as exc:
            if not used_default:
                self._fail(pn, record, exc, ready)
                return
            # The default outputs themselves are unusable: nothing left to absorb the failure.
            record.status = NodeStatus.FAILED
            record.error = RunError.from_exception(exc, pn.node_id)
            self._terminal()
            self._stop(RunStatus.FAILED, record.error)
            return
        record.finished_ns = now = perf_counter_ns()
        record.outputs = outputs
        record.used_default = used_default
        record.branch = branch
        record.usage = usage
        record.elapsed_s = (now - record.started_ns) / 1e9
        if self.sink is not None:
            self.sink(
                ev.NodeRunSucceeded(
                    pn.node_id,
                    pn.node_type,
                    outputs,
                    record.elapsed_s,
                    usage,
                    branch,
                    used_default,
                    now,
                )
            )
        for target, target_port, source_port, kind, label in pn.out_edges:
            taken = kind == EDGE_SUCCESS or (kind == EDGE_BRANCH and label == branch)
            # Validation guarantees a value edge has a source_port; `in` covers the rest.
            if taken and target_port is not None and source_port in outputs:
                self._deliver(target, target_port, outputs[source_port])  # type: ignore[index]
            self._decide(target, taken, True, ready)
        for target in pn.selector_dependents:
            self._decide(target, True, self.plan.nodes[target].gated_by_selectors, ready)
        if pn.order_dependents:  # rare (answer nodes): skip the loop set-up otherwise
            for target in pn.order_dependents:
                self._decide(target, False, False, ready)
        self._terminal()

    def _fail(self, pn: PlanNode, record: NodeRunResult, exc: Exception, ready: list[int]) -> None:
        error = RunError.from_exception(exc, pn.node_id)
        record.error = error
        record.finished_ns = now = perf_counter_ns()
        record.elapsed_s = (now - record.started_ns) / 1e9
        strategy = pn.error_strategy
        if isinstance(exc, RunLimitError):
            strategy = ErrorStrategy.FAIL_RUN  # limits are the run's, never a node's to absorb
        if strategy is ErrorStrategy.DEFAULT_VALUE:
            if self.sink is not None:
                self.sink(
                    ev.NodeRunFailed(pn.node_id, pn.node_type, error, record.elapsed_s, False, now)
                )
            outcome = NodeResult(pn.default_outputs, pn.default_branch)
            self._succeed(pn, record, outcome, ready, used_default=True)
            return
        record.status = NodeStatus.FAILED
        routed = strategy is ErrorStrategy.FAIL_BRANCH
        if self.sink is not None:
            self.sink(
                ev.NodeRunFailed(pn.node_id, pn.node_type, error, record.elapsed_s, routed, now)
            )
        if not routed:
            self._terminal()
            self._stop(RunStatus.FAILED, error)
            return
        error_value = error.to_dict()
        record.outputs = {"error": error_value}
        self.pool.set_outputs(pn.node_id, record.outputs)
        for target, target_port, _source_port, kind, _label in pn.out_edges:
            taken = kind == EDGE_FAIL
            if taken and target_port is not None:
                self._deliver(target, target_port, error_value)
            self._decide(target, taken, True, ready)
        for target in pn.selector_dependents:
            self._decide(target, False, self.plan.nodes[target].gated_by_selectors, ready)
        if pn.order_dependents:  # rare (answer nodes): skip the loop set-up otherwise
            for target in pn.order_dependents:
                self._decide(target, False, False, ready)
        self._terminal()

    def _finish_cancelled(self, pn: PlanNode, record: NodeRunResult) -> None:
        record.status = NodeStatus.CANCELLED
        record.finished_ns = now = perf_counter_ns()
        record.elapsed_s = (now - record.started_ns) / 1e9
        record.error = self.error
        if self.sink is not None:
            reason = self.error.message if self.error else "cancelled"
            self.sink(ev.NodeRunCancelled(pn.node_id, pn.node_type, reason, now))
        self._terminal()

    def _deliver(self, target: int, port: str, value: Any) -> None:
        slot = self.slots[target]
        if slot is None:
            self.slots[target] = {port: value}
        else:
            slot[port] = value

    def _decide(self, target: int, taken: bool, gating: bool, ready: list[int]) -> None:
        """One dependency of ``target`` is decided; the last one makes it ready or skipped."""
        if taken and gating:
            self.taken[target] += 1
        self.pending[target] -= 1
        if self.pending[target]:
            return
        if self.taken[target]:
            ready.append(target)
        else:
            self._skip(target, "no incoming edge was taken (behind a branch not taken)", ready)

    def _skip(self, index: int, reason: str, ready: list[int]) -> None:
        pn = self.plan.nodes[index]
        now = perf_counter_ns()
        self.results[index] = NodeRunResult(
            pn.node_id, pn.node_type, NodeStatus.SKIPPED, skip_reason=reason, finished_ns=now
        )
        if self.sink is not None:
            self.sink(ev.NodeRunSkipped(pn.node_id, pn.node_type, reason, now))
        for target, _tp, _sp, _kind, _label in pn.out_edges:
            self._decide(target, False, True, ready)
        for target in pn.selector_dependents:
            self._decide(target, False, self.plan.nodes[target].gated_by_selectors, ready)
        if pn.order_dependents:  # rare (answer nodes): skip the loop set-up otherwise
            for target in pn.order_dependents:
                self._decide(target, False, False, ready)
        self._terminal()

    def _terminal(self) -> None:
        self.remaining -= 1
        if not self.remaining:
            self.done.set()
