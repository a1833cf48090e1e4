"""Property: on random DAGs with branches, failures and interleaving, every node ends in exactly
one terminal state, never starts before its dependencies are decided, receives exactly the
values of its taken edges, and the statuses match a simple reference model of the rules."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapagent.nodes import default_registry
from snapagent.testing import function_node_type
from snapagent.workflow import (
    NodeRegistryV2,
    NodeResult,
    NodeRunCancelled,
    NodeRunFailed,
    NodeRunSkipped,
    NodeRunStarted,
    NodeRunSucceeded,
    NodeStatus,
    RunFinished,
    RunStatus,
    WorkflowExecutorV2,
    WorkflowGraph,
)

PORTS = ("in0", "in1", "in2", "in3")


@dataclass
class Spec:
    kind: str  # "work" | "flip"
    fails: bool = False
    strategy: str = "fail_branch"  # for failing work nodes: default_value | fail_branch | fail_run
    choose: str = "a"  # for flip nodes
    yields: bool = False
    edges: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    """(source index, source port, target port) for edges into this node."""
    selectors: list[tuple[int, str]] = field(default_factory=list)
    """(source index, target port) for selector mappings; gating only when there are no edges."""


def _out_port(spec: Spec) -> str:
    return "query" if spec.kind == "start" else "out"


@st.composite
def dags(draw: st.DrawFn, allow_fail_run: bool = False) -> list[Spec]:
    count = draw(st.integers(min_value=1, max_value=10))
    specs: list[Spec] = [Spec("start")]
    strategies = ["default_value", "fail_branch"] + (["fail_run"] if allow_fail_run else [])
    for i in range(1, count + 1):
        kind = draw(st.sampled_from(["work", "work", "flip"]))
        spec = Spec(
            kind,
            fails=kind == "work" and draw(st.booleans()),
            strategy=draw(st.sampled_from(strategies)),
            choose=draw(st.sampled_from(["a", "b"])),
            yields=draw(st.booleans()),
        )
        free_ports = list(PORTS)
        readable = [j for j in range(i) if specs[j].kind != "flip"]
        if kind == "work":
            picked = draw(st.lists(st.sampled_from(readable), max_size=2, unique=True))
            spec.selectors = [(j, free_ports.pop()) for j in picked]
        if spec.selectors and draw(st.booleans()):
            specs.append(spec)  # selector-gated: no edges at all
            continue
        sources = draw(st.lists(st.integers(0, i - 1), min_size=1, max_size=3, unique=True))
        for source in sources:
            src = specs[source]
            if src.kind == "flip":
                spec.edges.append((source, draw(st.sampled_from(["a", "b"])), None))
                continue
            if (
                src.kind == "work"
                and src.fails
                and src.strategy == "fail_branch"
                and draw(st.booleans())
            ):
                spec.edges.append((source, "fail", None))
                continue
            out = _out_port(src)
            if spec.kind == "work" and free_ports and draw(st.booleans()):
                spec.edges.append((source, out, free_ports.pop(0)))
            else:
                spec.edges.append((source, None, None))
        specs.append(spec)
    # A single end node after everything, gated by control edges from every node.
    specs.append(Spec("end", edges=[(i, None, None) for i in range(len(specs))]))
    return specs


def node_id(i: int) -> str:
    return f"n{i}"


def build(specs: list[Spec]) -> tuple[WorkflowGraph, NodeRegistryV2]:
    registry = default_registry()

    async def work(inputs: dict[str, Any], ctx: Any, nid: str) -> dict[str, Any]:
        spec = specs[int(nid[1:])]
        if spec.yields:
            await asyncio.sleep(0)
        if spec.fails:
            raise RuntimeError(f"{nid} failed")
        return {"out": nid + "(" + ",".join(str(inputs[p]) for p in sorted(inputs)) + ")"}

    async def flip(inputs: dict[str, Any], ctx: Any, nid: str) -> NodeResult:
        spec = specs[int(nid[1:])]
        if spec.yields:
            await asyncio.sleep(0)
        return NodeResult({}, spec.choose)

    registry.register(
        function_node_type(
            "work", dict.fromkeys(PORTS, "any"), {"out": "string"}, work, optional_inputs=PORTS
        )
    )
    registry.register(function_node_type("flip", {}, {}, flip, branches=("a", "b")))
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        node: dict[str, Any] = {"id": node_id(i), "type": spec.kind, "config": {}}
        if spec.kind == "end":
            node["config"] = {"outputs": []}
        if spec.kind == "work" and spec.fails:
            node["error_strategy"] = spec.strategy
        if spec.selectors:
            node["inputs"] = {
                port: {"selector": [node_id(j), _out_port(specs[j])]} for j, port in spec.selectors
            }
        nodes.append(node)
        for source, source_port, target_port in spec.edges:
            edge: dict[str, Any] = {"source": node_id(source), "target": node_id(i)}
            if source_port:
                edge["source_port"] = source_port
            if target_port:
                edge["target_port"] = target_port
            edges.append(edge)
    return WorkflowGraph.from_json({"nodes": nodes, "edges": edges}), registry


def reference_statuses(specs: list[Spec]) -> dict[str, NodeStatus]:
    """The rules, applied in index (topological) order with no concurrency."""
    status: dict[int, NodeStatus] = {0: NodeStatus.SUCCEEDED}
    fail_branched: set[int] = set()
    for i, spec in enumerate(specs[1:], start=1):
        taken = not spec.edges and any(
            status[j] is NodeStatus.SUCCEEDED for j, _port in spec.selectors
        )
        for source, port, _target_port in spec.edges:
            src = specs[source]
            if src.kind == "flip":
                taken |= status[source] is NodeStatus.SUCCEEDED and port == src.choose
            elif port == "fail":
                taken |= source in fail_branched
            else:
                taken |= status[source] is NodeStatus.SUCCEEDED
        if not taken:
            status[i] = NodeStatus.SKIPPED
        elif spec.kind == "work" and spec.fails and spec.strategy == "fail_branch":
            status[i] = NodeStatus.FAILED
            fail_branched.add(i)
        else:
            status[i] = NodeStatus.SUCCEEDED
    return {node_id(i): s for i, s in status.items()}


TERMINAL = (NodeRunSucceeded, NodeRunFailed, NodeRunSkipped, NodeRunCancelled)


def check_invariants(specs: list[Spec], events: list[Any]) -> Any:
    final = events[-1]
    assert isinstance(final, RunFinished)
    result = final.result
    assert set(result.nodes) == {node_id(i) for i in range(len(specs))}
    terminal_at: dict[str, int] = {}
    started_at: dict[str, int] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for position, event in enumerate(events):
        if isinstance(event, NodeRunStarted):
            assert event.node_id not in started_at, "a node started twice"
            started_at[event.node_id] = position
        if isinstance(event, TERMINAL):
            if isinstance(event, NodeRunFailed) and result.nodes[event.node_id].used_default:
                continue  # default_value: the failure is followed by its default success
            assert event.node_id not in terminal_at, f"{event.node_id} ended twice"
            terminal_at[event.node_id] = position
        if isinstance(event, NodeRunSucceeded):
            outputs[event.node_id] = event.outputs
    for i, spec in enumerate(specs):
        nid = node_id(i)
        record = result.nodes[nid]
        assert record.status in NodeStatus
        if nid not in started_at:
            continue
        start = started_at[nid]
        expected_inputs = {}
        for source, source_port, target_port in spec.edges:
            sid = node_id(source)
            assert terminal_at[sid] < start, f"{nid} started before {sid} was decided"
            produced = outputs.get(sid, {})
            if target_port and source_port in produced:
                expected_inputs[target_port] = produced[source_port]
        for source, port in spec.selectors:
            sid = node_id(source)
            assert terminal_at[sid] < start, f"{nid} started before {sid} (selector) was decided"
            produced = outputs.get(sid, {})
            if _out_port(specs[source]) in produced:
                expected_inputs[port] = produced[_out_port(specs[source])]
        if spec.kind == "work":
            assert events[start].inputs == expected_inputs
    return result


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_random_dags_follow_the_rules(specs: list[Spec]) -> None:
    graph, registry = build(specs)
    executor = WorkflowExecutorV2(registry)

    async def run() -> list[Any]:
        return [e async for e in executor.stream(graph, {"query": "q"}, {})]

    events = asyncio.run(run())
    result = check_invariants(specs, events)
    assert result.status is RunStatus.SUCCEEDED
    assert {n: r.status for n, r in result.nodes.items()} == reference_statuses(specs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags(allow_fail_run=True))
def test_random_dags_with_fatal_failures_stop_cleanly(specs: list[Spec]) -> None:
    graph, registry = build(specs)
    executor = WorkflowExecutorV2(registry)

    async def run() -> list[Any]:
        return [e async for e in executor.stream(graph, {"query": "q"}, {})]

    events = asyncio.run(run())
    result = check_invariants(specs, events)
    fatal = [
        k
        for k, e in enumerate(events)
        if isinstance(e, NodeRunFailed)
        and not e.routed_to_fail_branch
        and not result.nodes[e.node_id].used_default
    ]
    if fatal:
        assert result.status is RunStatus.FAILED
        assert not any(isinstance(e, NodeRunStarted) for e in events[fatal[0] :])
        assert result.nodes["n" + str(len(specs) - 1)].status is not NodeStatus.SUCCEEDED
    else:
        assert result.status is RunStatus.SUCCEEDED
