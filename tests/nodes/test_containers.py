"""iteration and loop: sub-graphs per item / per round, their validation, limits, failures
under each strategy, timeouts, cancellation, and the records of every body node run."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from snapagent.errors import NodeExecutionError
from snapagent.nodes import default_registry
from snapagent.nodes.settings import get_node_settings
from snapagent.testing import function_node_type
from snapagent.workflow import (
    NodeRegistryV2,
    NodeRunStarted,
    NodeRunSucceeded,
    NodeStatus,
    RunLimits,
    RunStatus,
    ServiceContainer,
    WorkflowEvent,
    WorkflowExecutorV2,
    WorkflowGraph,
    validate_graph,
)
from snapagent.workflow.catalogue import node_ports


class Probe:
    """A body node type: waits ``delay`` seconds (from its input), fails on 'boom'."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.cancelled = 0

    async def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(float(inputs.get("delay") or 0))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        if inputs["value"] == "boom":
            raise NodeExecutionError("the probe exploded")
        return {"out": f"<{inputs['value']}>"}


@pytest.fixture
def probe() -> Probe:
    return Probe()


@pytest.fixture
def registry(probe: Probe) -> NodeRegistryV2:
    registry = default_registry()
    registry.register(
        function_node_type(
            "probe", {"value": "any", "delay": "any"}, {"out": "string"}, probe,
            optional_inputs=("delay",),
        )
    )  # fmt: skip
    return registry


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    get_node_settings.cache_clear()
    yield
    get_node_settings.cache_clear()


def iteration_graph(body_extra: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    """start(items, delays) -> each(probe per item) -> end(outs, errors)."""
    body_node = {
        "id": "work",
        "type": "probe",
        "inputs": {
            "value": {"selector": ["each", "item"]},
            "delay": {"selector": ["start", "delays", 0]},
        },
    }
    body_node.update(body_extra or {})
    return {
        "nodes": [
            {"id": "start", "type": "start", "config": {"inputs": [
                {"name": "items", "type": "any"},
                {"name": "delays", "type": "array[number]", "required": False, "default": [0]},
            ]}},
            {"id": "each", "type": "iteration",
             "config": {"graph": {"nodes": [body_node]}, "outputs": {"outs": ["work", "out"]},
                        **config},
             "inputs": {"items": {"selector": ["start", "items"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["outs", "errors"]}},
        ],
        "edges": [
            {"source": "each", "source_port": "outs", "target": "end", "target_port": "outs"},
            {"source": "each", "source_port": "errors", "target": "end",
             "target_port": "errors"},
        ],
    }  # fmt: skip


async def run(
    registry: NodeRegistryV2,
    data: dict[str, Any],
    inputs: dict[str, Any],
    *,
    limits: RunLimits | None = None,
    events: list[WorkflowEvent] | None = None,
) -> Any:
    executor = WorkflowExecutorV2(registry, ServiceContainer(), limits=limits)
    sink = events.append if events is not None else None
    return await executor.run(WorkflowGraph.from_json(data), inputs, on_event=sink)


async def test_items_run_in_parallel_and_outputs_keep_item_order(
    registry: NodeRegistryV2, probe: Probe
) -> None:
    data = iteration_graph(parallelism=3)
    # Item i waits delays[i]: later items finish first.
    data["nodes"][1]["config"]["graph"]["nodes"][0]["inputs"]["delay"] = {
        "selector": ["start", "delays", 0]
    }
    events: list[WorkflowEvent] = []
    items = ["a", "b", "c", "d", "e"]

    result = await run(registry, data, {"items": items, "delays": [0.02]}, events=events)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs == {"outs": [f"<{x}>" for x in items], "errors": []}
    assert probe.most == 3  # bounded parallelism
    children = result.nodes["each"].children
    assert [(c.node_id, c.scope) for c in children] == [("work", (("each", i),)) for i in range(5)]
    assert [c.inputs["value"] for c in children] == items
    started = [e for e in events if isinstance(e, NodeRunStarted) and e.node_id == "work"]
    assert sorted(e.scope[0][1] for e in started) == [0, 1, 2, 3, 4]
    record = result.nodes["each"].to_dict()
    assert record["children"][4]["scope"] == [["each", 4]]


async def test_output_types_follow_the_body_ports(registry: NodeRegistryV2) -> None:
    ports = node_ports(registry, "iteration", iteration_graph()["nodes"][1]["config"])
    assert [(p.name, p.type.value) for p in ports.outputs] == [
        ("outs", "array[string]"),
        ("errors", "array[object]"),
    ]
    assert [p.name for p in ports.inputs] == ["items"]


@pytest.mark.parametrize(
    ("mode", "outs", "error_indexes"),
    [("continue", ["<a>", None, "<c>"], [1]), ("drop", ["<a>", "<c>"], [1])],
)
async def test_failed_items_continue_or_drop(
    registry: NodeRegistryV2, mode: str, outs: list[Any], error_indexes: list[int]
) -> None:
    data = iteration_graph(on_item_error=mode, parallelism=2)
    result = await run(registry, data, {"items": ["a", "boom", "c"]})

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs["outs"] == outs
    errors = result.outputs["errors"]
    assert [e["index"] for e in errors] == error_indexes
    assert "the probe exploded" in errors[0]["error"]["message"]
    failed = [c for c in result.nodes["each"].children if c.status is NodeStatus.FAILED]
    assert [c.scope for c in failed] == [(("each", 1),)]


async def test_a_failing_item_stops_the_others_and_fails_the_node(
    registry: NodeRegistryV2, probe: Probe
) -> None:
    data = iteration_graph(parallelism=2)
    data["nodes"][1]["config"]["graph"]["nodes"][0]["inputs"]["delay"] = {
        "selector": ["each", "index"]  # item i waits i seconds: item 1 fails at once? no: 1 s
    }
    result = await run(registry, data, {"items": ["boom", "slow", "slower"]})

    assert result.status is RunStatus.FAILED
    error = result.nodes["each"].error
    assert error is not None
    assert error.message.startswith("node 'each': item 0 failed at node 'work'")
    assert probe.cancelled == 1  # item 1 was running and got cancelled; item 2 never started
    assert probe.running == 0
    statuses = [(c.scope[0][1], c.status) for c in result.nodes["each"].children]
    assert statuses == [(0, NodeStatus.FAILED), (1, NodeStatus.CANCELLED)]


@pytest.mark.parametrize("strategy", ["default_value", "fail_branch"])
async def test_the_containers_error_strategy_applies(
    registry: NodeRegistryV2, strategy: str
) -> None:
    data = iteration_graph()
    data["nodes"][1]["error_strategy"] = strategy
    if strategy == "default_value":
        data["nodes"][1]["default_outputs"] = {"outs": [], "errors": [{"index": -1}]}
    else:
        data["nodes"].append({"id": "sorry", "type": "template", "config": {"template": "x"}})
        data["edges"] = [
            {"source": "each", "source_port": "fail", "target": "sorry"},
            {"source": "sorry", "source_port": "text", "target": "end", "target_port": "outs"},
        ]
        data["nodes"][2]["config"]["outputs"] = ["outs"]

    result = await run(registry, data, {"items": ["boom"]})

    assert result.status is RunStatus.SUCCEEDED, result.error
    if strategy == "default_value":
        assert result.outputs == {"outs": [], "errors": [{"index": -1}]}
    else:
        assert result.outputs == {"outs": "x"}
        assert result.nodes["each"].outputs["error"]["message"].startswith("node 'each': item 0")


async def test_timeout_of_the_container_cancels_its_items(
    registry: NodeRegistryV2, probe: Probe
) -> None:
    data = iteration_graph(parallelism=2)
    data["nodes"][1]["timeout_s"] = 0.1
    result = await run(registry, data, {"items": ["a", "b", "c"], "delays": [5]})

    assert result.status is RunStatus.FAILED
    assert result.nodes["each"].error is not None
    assert result.nodes["each"].error.type == "NodeTimeoutError"
    assert probe.cancelled == 2
    assert probe.running == 0


async def test_cancelling_the_run_cancels_the_items(registry: NodeRegistryV2, probe: Probe) -> None:
    executor = WorkflowExecutorV2(registry, ServiceContainer())
    cancel = asyncio.Event()
    graph = WorkflowGraph.from_json(iteration_graph(parallelism=3))
    task = asyncio.create_task(
        executor.run(graph, {"items": ["a", "b"], "delays": [5]}, cancel_event=cancel)
    )
    for _ in range(500):  # both items are inside the probe
        if probe.running == 2:
            break
        await asyncio.sleep(0.01)
    cancel.set()
    result = await asyncio.wait_for(task, 5)

    assert result.status is RunStatus.CANCELLED
    assert probe.cancelled == 2
    assert {c.status for c in result.nodes["each"].children} == {NodeStatus.CANCELLED}


async def test_item_and_parallelism_limits(
    registry: NodeRegistryV2, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    too_many = await run(registry, iteration_graph(max_items=2), {"items": ["a", "b", "c"]})
    assert too_many.status is RunStatus.FAILED
    assert "3 items, over its limit of 2" in too_many.error.message  # type: ignore[union-attr]

    monkeypatch.setenv("SNAPAGENT_ITERATION_MAX_ITEMS", "1")
    monkeypatch.setenv("SNAPAGENT_ITERATION_MAX_PARALLELISM", "2")
    get_node_settings.cache_clear()
    capped = await run(registry, iteration_graph(max_items=50), {"items": ["a", "b"]})
    assert "over its limit of 1" in capped.error.message  # type: ignore[union-attr]

    monkeypatch.setenv("SNAPAGENT_ITERATION_MAX_ITEMS", "10")
    get_node_settings.cache_clear()
    items = list("abcdef")
    result = await run(registry, iteration_graph(parallelism=6), {"items": items, "delays": [0.01]})
    assert result.status is RunStatus.SUCCEEDED
    assert probe.most == 2  # the operator's cap beats the config's 6

    not_a_list = await run(registry, iteration_graph(), {"items": "abc"})
    assert "items must be a list, got str" in not_a_list.error.message  # type: ignore[union-attr]


async def test_body_steps_count_against_the_run(registry: NodeRegistryV2) -> None:
    result = await run(
        registry, iteration_graph(), {"items": list("abcdefgh")}, limits=RunLimits(max_steps=6)
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "RunLimitError"
    assert "maximum of 6 steps" in result.error.message


def problems_of(registry: NodeRegistryV2, data: dict[str, Any]) -> dict[str, str]:
    found = validate_graph(WorkflowGraph.from_json(data), registry)
    return {p.path: f"{p.code}: {p.message}" for p in found}


def test_body_problems_carry_their_full_path(registry: NodeRegistryV2) -> None:
    data = iteration_graph()
    body = data["nodes"][1]["config"]["graph"]
    body["nodes"].append({"id": "fmt", "type": "template", "config": {"template": 3}})
    body["nodes"].append({"id": "ghost", "type": "teleport"})
    body["nodes"].append({"id": "start", "type": "template", "config": {"template": "x"}})
    body["nodes"].append({"id": "inner_start", "type": "start"})
    body["edges"] = [{"source": "work", "source_port": "nope", "target": "fmt"}]
    data["nodes"][1]["config"]["outputs"]["more"] = ["work", "missing"]

    found = problems_of(registry, data)

    prefix = "nodes[1].config.graph"
    assert found[f"{prefix}.nodes[1].config.template"].startswith("invalid_config")
    assert found[f"{prefix}.nodes[2].type"].startswith("unknown_node_type")
    assert "already used outside this sub-graph" in found[f"{prefix}.nodes[3]"]
    assert "a sub-graph has no start node" in found[f"{prefix}.nodes[4].type"]
    assert found[f"{prefix}.edges[0].source_port"].startswith("unknown_port")
    assert "node 'work' has no output 'missing'" in found["nodes[1].config.outputs.more"]
    assert len(found) == 6


def test_body_reads_are_checked_and_make_the_container_wait(registry: NodeRegistryV2) -> None:
    data = iteration_graph()
    body = data["nodes"][1]["config"]["graph"]["nodes"][0]
    body["inputs"]["delay"] = {"selector": ["end", "outs"]}  # downstream of the container
    body["inputs"]["value"] = {"selector": ["nowhere", "x"]}
    data["nodes"][1]["config"]["outputs"] = {"outs": ["missing_node", "out"]}
    found = problems_of(registry, data)
    assert (
        "selector nowhere.x names no node"
        in found["nodes[1].config.graph.nodes[0].inputs.value.selector"]
    )
    assert "names no node of the sub-graph" in found["nodes[1].config.outputs.outs"]

    data = iteration_graph()
    data["nodes"][1]["config"]["graph"]["nodes"][0]["inputs"]["delay"] = {
        "selector": ["end", "outs"]
    }
    found = problems_of(registry, data)
    assert found["nodes[1].config"].startswith("cycle") or "selector_not_upstream" in " ".join(
        found.values()
    )


async def test_a_body_reading_an_outer_node_waits_for_it(registry: NodeRegistryV2) -> None:
    data = iteration_graph()
    data["nodes"].insert(
        1,
        {"id": "slow", "type": "probe", "inputs": {"value": {"selector": ["start", "query"]},
                                                    "delay": {"selector": ["start", "delays", 0]}}},
    )  # fmt: skip
    body = data["nodes"][2]["config"]["graph"]["nodes"][0]
    body["inputs"]["value"] = {"selector": ["slow", "out"]}  # read only inside the body
    result = await run(registry, data, {"query": "q", "items": [1, 2], "delays": [0.02]})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs["outs"] == ["<<q>>", "<<q>>"]
    assert result.nodes["slow"].index < result.nodes["each"].index


async def test_nested_iterations_and_the_depth_limit(
    registry: NodeRegistryV2, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = {
        "id": "inner", "type": "iteration",
        "config": {"graph": {"nodes": [
            {"id": "pair", "type": "template", "config": {"template": "{{ a }}{{ b }}"},
             "inputs": {"a": {"selector": ["outer", "item"]},
                        "b": {"selector": ["inner", "item"]}}}]},
            "outputs": {"pairs": ["pair", "text"]}},
        "inputs": {"items": {"selector": ["start", "letters"]}},
    }  # fmt: skip
    data = {
        "nodes": [
            {"id": "start", "type": "start", "config": {"inputs": [
                {"name": "numbers", "type": "any"}, {"name": "letters", "type": "any"}]}},
            {"id": "outer", "type": "iteration",
             "config": {"graph": {"nodes": [inner]}, "outputs": {"rows": ["inner", "pairs"]}},
             "inputs": {"items": {"selector": ["start", "numbers"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["rows"]}},
        ],
        "edges": [{"source": "outer", "source_port": "rows", "target": "end",
                   "target_port": "rows"}],
    }  # fmt: skip
    events: list[WorkflowEvent] = []
    result = await run(registry, data, {"numbers": [1, 2], "letters": ["x", "y"]}, events=events)

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs == {"rows": [["1x", "1y"], ["2x", "2y"]]}
    inner_runs = result.nodes["outer"].children
    assert [r.scope for r in inner_runs] == [(("outer", 0),), (("outer", 1),)]
    assert [c.scope for c in inner_runs[1].children] == [
        (("outer", 1), ("inner", 0)),
        (("outer", 1), ("inner", 1)),
    ]
    done = [e for e in events if isinstance(e, NodeRunSucceeded) and e.node_id == "pair"]
    assert (("outer", 1), ("inner", 1)) in {e.scope for e in done}

    monkeypatch.setenv("SNAPAGENT_SUBGRAPH_MAX_DEPTH", "1")
    get_node_settings.cache_clear()
    found = problems_of(registry, data)
    assert found["nodes[1].config.graph.nodes[0].config.graph"].startswith("nesting_too_deep")


def test_body_ids_are_unique_across_sibling_containers(registry: NodeRegistryV2) -> None:
    data = iteration_graph()
    twin = {**data["nodes"][1], "id": "twin"}
    twin["config"] = {**twin["config"], "graph": {"nodes": [
        {"id": "work", "type": "template", "config": {"template": "{{ x }}"},
         "inputs": {"x": {"selector": ["twin", "item"]}}}]}}  # fmt: skip
    data["nodes"].append(twin)
    data["edges"].append({"source": "twin", "target": "end"})
    found = problems_of(registry, data)
    assert (
        "'work' is already used outside this sub-graph" in found["nodes[3].config.graph.nodes[0]"]
    )


def loop_graph(**config: Any) -> dict[str, Any]:
    body = {"nodes": [
        {"id": "step", "type": "template", "config": {"template": "{{ text }}+{{ n }}"},
         "inputs": {"text": {"selector": ["grow", "text"]},
                    "n": {"selector": ["grow", "index"]}}}]}  # fmt: skip
    settings = {
        "graph": body,
        "loop_variables": [{"name": "text", "type": "string", "default": "s"}],
        "updates": {"text": ["step", "text"]},
        **config,
    }
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "grow", "type": "loop", "config": settings,
             "inputs": {"text": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["text", "rounds"]}},
        ],
        "edges": [
            {"source": "grow", "source_port": "text", "target": "end", "target_port": "text"},
            {"source": "grow", "source_port": "rounds", "target": "end",
             "target_port": "rounds"},
        ],
    }  # fmt: skip


async def test_loop_carries_variables_until_the_break_condition(registry: NodeRegistryV2) -> None:
    data = loop_graph(
        break_conditions=[{"input": "index", "operator": "greater_or_equal", "value": 3}]
    )
    result = await run(registry, data, {"query": "q"})

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs == {"text": "q+0+1+2", "rounds": 3}
    rounds = result.nodes["grow"].children
    assert [(c.scope, c.inputs) for c in rounds] == [
        ((("grow", 0),), {"text": "q", "n": 0}),
        ((("grow", 1),), {"text": "q+0", "n": 1}),
        ((("grow", 2),), {"text": "q+0+1", "n": 2}),
    ]


async def test_loop_breaks_on_a_variable_or_stops_at_max_iterations(
    registry: NodeRegistryV2, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_value = loop_graph(
        break_conditions=[{"input": "text", "operator": "contains", "value": "+1"}]
    )
    result = await run(registry, on_value, {"query": "q"})
    assert result.outputs == {"text": "q+0+1", "rounds": 2}

    capped = await run(registry, loop_graph(max_iterations=4), {"query": "q"})
    assert capped.outputs["rounds"] == 4
    monkeypatch.setenv("SNAPAGENT_LOOP_MAX_ITERATIONS", "2")
    get_node_settings.cache_clear()
    capped = await run(registry, loop_graph(max_iterations=4), {"query": "q"})
    assert capped.outputs["rounds"] == 2

    at_once = loop_graph(break_conditions=[{"input": "text", "operator": "equals", "value": "q"}])
    assert (await run(registry, at_once, {"query": "q"})).outputs == {"text": "q", "rounds": 0}


async def test_loop_failures_and_bad_values(registry: NodeRegistryV2) -> None:
    data = loop_graph(loop_variables=[{"name": "text", "type": "integer", "default": 1}])
    found = problems_of(registry, data)
    assert "is string but loop variable 'text' is integer" in found["nodes[1].config.updates.text"]

    failing = loop_graph()
    step = failing["nodes"][1]["config"]["graph"]["nodes"][0]
    step["config"]["template"] = "{{ text.x.y }}{{ n }}"
    failing["nodes"][1]["error_strategy"] = "default_value"
    failing["nodes"][1]["default_outputs"] = {"text": "fallback", "rounds": -1}
    result = await run(registry, failing, {"query": "q"})
    assert result.outputs == {"text": "fallback", "rounds": -1}
    assert "round 0 failed at node 'step'" in result.nodes["grow"].error.message  # type: ignore[union-attr]

    bad_config = loop_graph(
        updates={"other": ["step", "text"]},
        break_conditions=[{"input": "nothing", "operator": "is_empty"}],
    )
    found = problems_of(registry, bad_config)
    assert "updates names 'other', which is not a loop variable" in found["nodes[1].config"]
