"""One run of a compiled plan: the driving half behind `WorkflowExecutorV2`.

How it stays cheap: a worker runs ready nodes one after another in its own task. A node that
completes without suspending costs no task switch and no event-loop round trip, so a linear
chain runs entirely inside the caller's task. When a node suspends (real I/O) it stays in the
task it started in, and the other ready nodes move to a new worker task, so independent
branches run concurrently. Readiness is counted, never polled (see `run_state`).

Stopping (a failure under ``fail_run``, a limit, or the cancel event) cancels every worker
task; workers record the node they were running as ``cancelled`` and nodes that never started
as ``skipped``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import types
from collections.abc import Coroutine, Generator, Mapping
from time import perf_counter_ns
from typing import Any

from snapagent.errors import NodeExecutionError, NodeTimeoutError, RunLimitError, VariableError
from snapagent.workflow import events as ev
from snapagent.workflow.node import NodeResult
from snapagent.workflow.plan import PlanNode
from snapagent.workflow.replay import ReplayedFailure, ReplayedNode
from snapagent.workflow.result import (
    NodeRunResult,
    NodeStatus,
    RunError,
    RunStatus,
    WorkflowRunResult,
)
from snapagent.workflow.run_state import NO_USAGE, EventSink, RunState, Scope
from snapagent.workflow.schema import SYS_NODE_ID
from snapagent.workflow.subgraph import SubgraphNode

__all__ = ["EventSink", "Run"]

_MISSING: Any = object()


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


def _scoped_sink(sink: EventSink, scope: Scope) -> EventSink:
    """A body run's events reach the outer listeners with their scope; the body's own run
    start/finish and its text stay inside (text of N items at once would be noise)."""

    def forward(event: ev.WorkflowEvent) -> None:
        if isinstance(event, ev.RunStarted | ev.RunFinished | ev.TextChunk):
            return
        sink(dataclasses.replace(event, scope=scope))  # type: ignore[call-arg]

    return forward


def _body_order(record: NodeRunResult) -> tuple[int, bool, int]:
    return record.scope[-1][1], record.index < 0, record.index


class _Stop(Exception):
    """Raised inside a worker whose node was cancelled because the run is stopping."""


class Run(RunState):
    """Drives one run: `execute()` to completion, `cancel()` from any callback."""

    async def execute(self) -> WorkflowRunResult:
        """Run to completion in the calling task (which becomes the first worker)."""
        self.t0 = t0 = perf_counter_ns()
        self.main_task = asyncio.current_task()
        if self.sink is not None:
            self.sink(ev.RunStarted(self.run_id, self.inputs, t0))
        if self.root is not None:
            self.deadline = self.root.deadline  # a body run ends when its outer run must
        elif self.limits.max_duration_s is not None:
            self.deadline = self.loop.time() + self.limits.max_duration_s
        try:
            await self._worker(list(reversed(self.plan.roots)), main=True)
            if self.remaining and not self.stopping:
                self._arm_deadline()
                await self.done.wait()
            if self.tasks:
                await asyncio.wait(set(self.tasks))
        except BaseException as exc:
            # Cancelled from outside (the caller's task), or an error escaped a node's handling
            # (a raising event sink): stop every node, wait for them, then propagate.
            status = (
                RunStatus.CANCELLED if isinstance(exc, asyncio.CancelledError) else RunStatus.FAILED
            )
            self._stop(status, RunError.from_exception(exc))
            if self.tasks:
                await asyncio.wait(set(self.tasks))
            raise
        finally:
            if self.timer is not None:
                self.timer.cancel()
        result = self._result(t0)
        if self.sink is not None:
            self.sink(ev.RunFinished(result, perf_counter_ns()))
        return result

    async def run_body(
        self, container: SubgraphNode[Any], values: Mapping[str, Any], iteration: int
    ) -> WorkflowRunResult:
        """One run of ``container``'s body inside this run (see `RunContext.run_body`)."""
        plan, analysis = container.body_plan, container.body_analysis
        if plan is None or analysis is None:
            raise NodeExecutionError(
                f"node {container.node_id!r} has no compiled sub-graph", node_id=container.node_id
            )
        scope = (*self.scope, (container.node_id, iteration))
        links: dict[str, Mapping[str, Any]] = {container.node_id: values}
        for ref in analysis.external_refs - {container.node_id}:
            outputs = self.pool.outputs_of(ref)
            if outputs is not None:
                links[ref] = outputs
        root_sink = (self.root or self).sink
        body = Run(
            plan,
            self.ctx.services,
            self.inputs,
            dict(self.pool.sys),
            self.limits,
            None if root_sink is None else _scoped_sink(root_sink, scope),
            parent=self,
            scope=scope,
            links=links,
            conversation=self.conversation,
        )
        records = self.body_results.setdefault(container.node_id, [])
        try:
            result = await body.execute()
        except BaseException:
            # Cancelled (the run stopping, the container's timeout): what ran is still recorded.
            records.extend(body.partial_result().ordered_nodes())
            raise
        records.extend(result.ordered_nodes())
        return result

    def partial_result(self) -> WorkflowRunResult:
        """The records so far of a run that was interrupted."""
        return self._result(self.t0)

    def cancel(self, reason: str = "the run was cancelled") -> None:
        """Stop the run with status ``cancelled`` (safe to call from any callback)."""
        self._stop(RunStatus.CANCELLED, RunError("RunCancelled", reason))

    def _arm_deadline(self) -> None:
        """Start the max-duration timer the first time the run waits on anything: a run that
        never suspends cannot be interrupted by a timer anyway, and is checked per step."""
        if self.timer is None and self.deadline is not None:
            self.timer = self.loop.call_at(self.deadline, self._duration_exceeded)

    def _duration_error(self) -> RunLimitError:
        limit = self.limits.max_duration_s
        return RunLimitError(f"the run exceeded its maximum duration of {limit} s")

    def _duration_exceeded(self) -> None:
        self._stop(RunStatus.FAILED, RunError.from_exception(self._duration_error()))

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
                self._arm_deadline()
                await _resume(coro, waiting_on)
            except _Stop:
                return
            finally:
                if main:
                    self.main_busy = False
                    if self.main_task in self.cancelled_by_us:
                        # Our cancel reached a node that swallowed it: take the request back.
                        self.cancelled_by_us.discard(self.main_task)
                        self.main_task.uncancel()

    def _spawn(self, ready: list[int]) -> None:
        task = asyncio.get_running_loop().create_task(self._worker(ready))
        self.tasks.add(task)
        task.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            # Never hang on a worker that died: the run fails with what killed it.
            self._stop(RunStatus.FAILED, RunError.from_exception(exc))

    async def _run_node(self, pn: PlanNode, ready: list[int]) -> None:
        record = NodeRunResult(pn.node_id, pn.node_type, NodeStatus.SUCCEEDED, index=self.started)
        self.results[pn.index] = record
        self.started += 1
        sink = self.sink
        record.started_ns = perf_counter_ns()
        inputs: dict[str, Any] = {}
        missing: VariableError | None = None
        try:
            inputs = self._inputs(pn)
        except VariableError as exc:
            missing = exc
        record.inputs = inputs
        if sink is not None:
            sink(
                ev.NodeRunStarted(pn.node_id, pn.node_type, record.index, inputs, record.started_ns)
            )
        if self.replay is not None and pn.node_id in self.replay:
            self._replay(pn, record, self.replay[pn.node_id], ready)
            return
        if missing is not None:
            self._fail(pn, record, missing, ready)
            return
        try:
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

    def _replay(
        self, pn: PlanNode, record: NodeRunResult, recorded: ReplayedNode, ready: list[int]
    ) -> None:
        """The node's recorded outcome instead of a run of it; it spreads like a fresh one."""
        record.replayed = True
        if recorded.error is not None:
            failure = ReplayedFailure(recorded.error, node_id=pn.node_id)
            self._fail(pn, record, failure, ready)
            return
        outcome = NodeResult(dict(recorded.outputs), recorded.branch)
        self._succeed(pn, record, outcome, ready, used_default=False)

    def _cancelled_by_us(self) -> bool:
        task = asyncio.current_task()
        if task is not None and task in self.cancelled_by_us:
            if task is self.main_task:
                # We cancelled the caller's task: undo it, the caller must not stay cancelled.
                self.cancelled_by_us.discard(task)
                task.uncancel()
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
                raise self._missing_input(pn, port)
        return inputs

    def _missing_input(self, pn: PlanNode, port: str) -> VariableError:
        """The error for a required input without a value; a ``sys`` value this run does not
        have (a chat turn has no ``call_depth``, say) is named, with the ones it has."""
        source = next(((n, p) for q, n, p, _ in pn.mappings if q == port), None)
        sys = self.pool.sys
        if source is not None and source[0] == SYS_NODE_ID and source[1] not in sys:
            return VariableError(
                f"node {pn.node_id!r} reads sys.{source[1]}, which this run does not have "
                f"(it has: {', '.join(sorted(sys)) or 'none'})",
                node_id=pn.node_id,
                details={"port": port, "selector": [SYS_NODE_ID, source[1]]},
            )
        return VariableError(
            f"node {pn.node_id!r} got no value for its required input {port!r} "
            "(its source was skipped or produced nothing)",
            node_id=pn.node_id,
            details={"port": port},
        )

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
        root = self.root or self
        root.steps += 1
        limit = self.limits.max_steps
        if limit is not None and root.steps > limit:
            raise RunLimitError(
                f"the run exceeded its maximum of {limit} steps at node {pn.node_id!r}"
            )
        if self.deadline is not None and self.loop.time() > self.deadline:
            raise self._duration_error()

    def _result(self, t0: int) -> WorkflowRunResult:
        nodes: dict[str, NodeRunResult] = {}
        outputs: dict[str, Any] = {}
        usage = NO_USAGE
        scope, body_results = self.scope, self.body_results
        for pn, record in zip(self.plan.nodes, self.results, strict=True):
            if record is None:
                reason = "the run stopped before this node was reached"
                record = NodeRunResult(
                    pn.node_id, pn.node_type, NodeStatus.SKIPPED, skip_reason=reason
                )
            if scope:
                record.scope = scope
            if body_results and pn.node_id in body_results:
                # Parallel items finish in any order; the record reads in item order.
                record.children = tuple(sorted(body_results[pn.node_id], key=_body_order))
            nodes[pn.node_id] = record
            if record.usage.input_tokens or record.usage.output_tokens:
                usage = usage + record.usage
            if pn.is_output and record.status is NodeStatus.SUCCEEDED:
                outputs.update(record.outputs)
        elapsed = (perf_counter_ns() - t0) / 1e9
        return WorkflowRunResult(
            self.run_id,
            self.status,
            outputs,
            self.error,
            nodes,
            elapsed,
            usage,
            self.conversation.snapshot() if self.conversation.declared else {},
            list(self.conversation.writes),
        )
