"""The public surface of `snapagent.workflow` and a linear run through it."""

from __future__ import annotations

import snapagent.workflow as wf
from snapagent.nodes import default_registry


def test_all_names_exist_and_are_sorted() -> None:
    assert wf.__all__ == sorted(wf.__all__)
    for name in wf.__all__:
        assert getattr(wf, name) is not None, name


def test_core_vocabulary_is_exported() -> None:
    for name in (
        "PortType",
        "PortDefinition",
        "NodePortSchema",
        "ValueSelector",
        "VariableMapping",
        "WorkflowNode",
        "WorkflowEdge",
        "WorkflowGraph",
        "validate_graph",
        "VariablePool",
        "ServiceContainer",
        "BaseNodeV2",
        "NodeRegistryV2",
        "WorkflowExecutorV2",
        "WorkflowRunResult",
        "RunLimits",
        "RunStarted",
        "NodeRunStarted",
        "NodeRunSucceeded",
        "NodeRunFailed",
        "NodeRunSkipped",
        "NodeRunRetrying",
        "TextChunk",
        "RunFinished",
    ):
        assert name in wf.__all__, name


async def test_linear_graph_runs_and_substitutes_values_literally() -> None:
    graph = wf.WorkflowGraph.from_json(
        {
            "nodes": [
                {"id": "start", "type": "start", "config": {}},
                {"id": "t", "type": "template", "config": {"template": "Q: {{ q }}"}},
                {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
            ],
            "edges": [
                {"source": "start", "source_port": "query", "target": "t", "target_port": "q"},
                {"source": "t", "source_port": "text", "target": "end", "target_port": "answer"},
            ],
        }
    )
    executor = wf.WorkflowExecutorV2(default_registry())
    result = await executor.run(graph, {"query": "what is {{ 7*7 }}"}, {"run_id": "r1"})
    assert result.status is wf.RunStatus.SUCCEEDED
    assert result.outputs == {"answer": "Q: what is {{ 7*7 }}"}
    assert result.run_id == "r1"
    assert [n.node_id for n in result.ordered_nodes()] == ["start", "t", "end"]
    assert [n.index for n in result.ordered_nodes()] == [0, 1, 2]
