"""One run of a compiled plan: the scheduling core behind `WorkflowExecutorV2`.

How it stays cheap: a worker coroutine runs a node, and when that node's completion makes
successors ready it runs the first of them itself (plain ``await``, no task, no event-loop
round trip) and starts a task only for each additional ready successor. A linear chain
therefore runs entirely inside the caller's task; parallel branches get one task each.
Readiness is counted, never polled: each node waits for a known number of decided
dependencies, and the last decision either makes it ready or skips it.

Stopping (a failure under ``fail_run``, a limit, or the cancel event) cancels every worker
task; workers record the node they were running as ``cancelled`` and nodes that never started
as ``skipped``.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable, Coroutine, Generator
from time import perf_counter_ns
from typing import Any

from snapagent.errors import NodeExecutionError, NodeTimeoutError, RunLimitError, VariableError
from snapagent.workflow import events as ev
from snapagent.workflow.node import NodeResult, RunContext
from snapagent.workflow.plan import EDGE_BRANCH, EDGE_FAIL, EDGE_SUCCESS, ExecutionPlan, PlanNode
from snapagent.workflow.pool import VariablePool
from snapagent.workflow.result import (
    NodeRunResult,
    NodeStatus,
    RunError,
    RunLimits,
    RunStatus,
    WorkflowRunResult,
)
from snapagent.workflow.schema import ErrorStrategy
from snapagent.workflow.services import ServiceContainer, TokenUsage

__all__ = ["EventSink", "Run"]

EventSink = Callable[[ev.WorkflowEvent], None]
_MISSING: Any = object()
_NO_USAGE = TokenUsage()


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], waiting_on: Any) -> Generator[Any, Any, None]:
    """Continue a coroutine that was started by hand (``coro.send(None)``) and is waiting on
    ``waiting_on``: hand that future to the current task, then delegate exactly like
    ``await`` would (values, exceptions and cancellation are forwarded to ``coro``)."""
    try:
        yield waiting_on
    except GeneratorExit:
        coro.close()
        raise
    except BaseException as exc:  # CancelledError and friends belong to the node
        try:
            waiting_on = coro.throw(exc)
        except StopIteration:
            return
        yield from _resume(coro, waiting_on)
        return
    yield from coro


class _Stop(Exception):
    """Raised inside a worker whose node was cancelled because the run is stopping."""


class Run:
    """State of one run. Single-threaded asyncio: no locks, state changes between awaits."""

    def __init__(
        self,
        plan: ExecutionPlan,
        services: ServiceContainer,
        inputs: dict[str, Any],
        sys: dict[str, Any],
        limits: RunLimits,
        sink: EventSink | None,
    ) -> None:
        self.plan = plan
        self.limits = limits
        self.sink = sink
        self.run_id = str(sys["run_id"])
        self.pool = VariablePool(sys, max_value_bytes=limits.max_value_bytes)
        self.ctx = RunContext(services, inputs, self.pool.sys, self._text if sink else None)
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

    # -- events ---------------------------------------------------------------------------
    def _text(self, node_id: str, text: str) -> None:
        if self.sink is not None:
            self.sink(ev.TextChunk(node_id, text, perf_counter_ns()))

    # -- driving --------------------------------------------------------------------------
    async def execute(self) -> WorkflowRunResult:
        """Run to completion in the calling task (which becomes the first worker)."""
        t0 = perf_counter_ns()
        self.main_task = asyncio.current_task()
        if self.sink is not None:
            self.sink(ev.RunStarted(self.run_id, self.inputs, t0))
        timer = None
        if self.limits.max_duration_s is not None:
            timer = asyncio.get_running_loop().call_later(
                self.limits.max_duration_s, self._duration_exceeded
            )
        try:
            await self._worker([self.plan.start_index], main=True)
            if self.remaining and not self.stopping:
                await self.done.wait()
            if self.tasks:
                await asyncio.wait(set(self.tasks))
        except asyncio.CancelledError:
            # Cancelled from outside (the caller's task): stop every node, then propagate.
            self._stop(RunStatus.CANCELLED, RunError("CancelledError", "the run was cancelled"))
            if self.tasks:
                await asyncio.wait(set(self.tasks))
            raise
        finally:
            if timer is not None:
                timer.cancel()
        result = self._result(t0)
        if self.sink is not None:
            self.sink(ev.RunFinished(result, perf_counter_ns()))
        return result

    def cancel(self, reason: str = "the run was cancelled") -> None:
        """Stop the run with status ``cancelled`` (safe to call from any callback)."""
        self._stop(RunStatus.CANCELLED, RunError("RunCancelled", reason))

    def _duration_exceeded(self) -> None:
        limit = self.limits.max_duration_s
        err = RunLimitError(f"the run exceeded its maximum duration of {limit} s")
        self._stop(RunStatus.FAILED, RunError.from_exception(err))

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

    async def _worker(self, ready: list[int], main: bool = False) -> None:
        """Run ready nodes one after another in this task. A node that completes without
        suspending costs no task switch; when one suspends (real I/O), it stays in this task
        (so `asyncio.current_task()`, timeouts and cancel scopes inside it stay right) and the
        other ready nodes move to a new worker task, so they run concurrently."""
        while ready and not self.stopping:
            coro = self._run_node(self.plan.nodes[ready.pop()], ready)
            if main:
                self.main_busy = True
            try:
                try:
                    waiting_on = coro.send(None)
                except StopIteration:
                    continue
                if ready:
                    self._spawn(ready[:])
                    ready.clear()
                await _resume(coro, waiting_on)
            except _Stop:
                return
            finally:
                if main:
                    self.main_busy = False

    def _spawn(self, ready: list[int]) -> None:
        task = asyncio.get_running_loop().create_task(self._worker(ready))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- one node ---------------------------------------------------------------------------
    async def _run_node(self, pn: PlanNode, ready: list[int]) -> None:
        record = NodeRunResult(pn.node_id, pn.node_type, NodeStatus.SUCCEEDED, index=self.started)
        self.results[pn.index] = record
        self.started += 1
        sink = self.sink
        record.started_ns = perf_counter_ns()
        inputs: dict[str, Any] = {}
        try:
            inputs = self._inputs(pn)
            record.inputs = inputs
            if sink is not None:
                sink(
                    ev.NodeRunStarted(
                        pn.node_id, pn.node_type, record.index, inputs, record.started_ns
                    )
                )
            outcome = await self._attempts(pn, inputs, record)
        except asyncio.CancelledError:
            if self._cancelled_by_us():
                self._finish_cancelled(pn, record)
                raise _Stop from None
            self._finish_cancelled(pn, record)
            raise
        except _Stop:
            raise
        except Exception as exc:
            self._fail(pn, record, exc, ready)
            return
        self._succeed(pn, record, outcome, ready, used_default=False)

    def _cancelled_by_us(self) -> bool:
        task = asyncio.current_task()
        if task is not None and task in self.cancelled_by_us:
            if task is self.main_task:
                task.uncancel()  # we cancelled the caller's task: undo, it must not stay cancelled
            return True
        return False

    def _inputs(self, pn: PlanNode) -> dict[str, Any]:
        slot = self.slots[pn.index]
        inputs = dict(slot) if slot is not None else {}
        for port, node_id, src_port, path in pn.mappings:
            value = self.pool.read(node_id, src_port, path, _MISSING)
            if value is not _MISSING:
                inputs[port] = value
        for port, default in pn.input_defaults:
            if port not in inputs:
                inputs[port] = default
        for port in pn.required_inputs:
            if port not in inputs:
                raise VariableError(
                    f"node {pn.node_id!r} got no value for its required input {port!r} "
                    "(its source was skipped or produced nothing)",
                    node_id=pn.node_id,
                    details={"port": port},
                )
        return inputs

    async def _attempts(self, pn: PlanNode, inputs: dict[str, Any], record: NodeRunResult) -> Any:
        attempt = 0
        while True:
            self._count_step(pn)
            try:
                if pn.timeout_s is None:
                    return await pn.node.run(inputs, self.ctx)
                try:
                    async with asyncio.timeout(pn.timeout_s):
                        return await pn.node.run(inputs, self.ctx)
                except TimeoutError as exc:
                    raise NodeTimeoutError(
                        f"node {pn.node_id!r} timed out after {pn.timeout_s} s",
                        node_id=pn.node_id,
                    ) from exc
            except (asyncio.CancelledError, RunLimitError):
                raise
            except Exception as exc:
                if pn.retry is None or attempt >= pn.retry.max_retries:
                    raise
                attempt += 1
                record.retries = attempt
                delay = pn.retry.delay(attempt)
                if self.sink is not None:
                    error = RunError.from_exception(exc, pn.node_id)
                    self.sink(
                        ev.NodeRunRetrying(
                            pn.node_id, pn.node_type, attempt, delay, error, perf_counter_ns()
                        )
                    )
                # Only this worker waits; other branches keep running in their own tasks.
                await asyncio.sleep(delay)

    def _count_step(self, pn: PlanNode) -> None:
        self.steps += 1
        limit = self.limits.max_steps
        if limit is not None and self.steps > limit:
            raise RunLimitError(
                f"the run exceeded its maximum of {limit} steps at node {pn.node_id!r}"
            )

    # -- outcomes -----------------------------------------------------------------------------
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
            outputs, branch, usage = outcome.outputs, outcome.branch, outcome.usage or _NO_USAGE
        else:
            outputs, branch, usage = outcome, None, _NO_USAGE
        if not isinstance(outputs, dict):
            outputs = dict(outputs)
        try:
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
        self._terminal()

    def _terminal(self) -> None:
        self.remaining -= 1
        if not self.remaining:
            self.done.set()

    # -- result -------------------------------------------------------------------------------
    def _result(self, t0: int) -> WorkflowRunResult:
        nodes: dict[str, NodeRunResult] = {}
        outputs: dict[str, Any] = {}
        usage = _NO_USAGE
        for pn, record in zip(self.plan.nodes, self.results, strict=True):
            if record is None:
                reason = "the run stopped before this node was reached"
                record = NodeRunResult(
                    pn.node_id, pn.node_type, NodeStatus.SKIPPED, skip_reason=reason
                )
            nodes[pn.node_id] = record
            if record.usage.input_tokens or record.usage.output_tokens:
                usage = usage + record.usage
            if pn.is_output and record.status is NodeStatus.SUCCEEDED:
                outputs.update(record.outputs)
        elapsed = (perf_counter_ns() - t0) / 1e9
        return WorkflowRunResult(
            self.run_id, self.status, outputs, self.error, nodes, elapsed, usage
        )
