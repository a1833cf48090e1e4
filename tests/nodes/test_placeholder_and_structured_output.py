"""The placeholder node (imported nodes without an equivalent) and the LLM node's structured
output (a JSON Schema answer through the provider's native structured output)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from snapagent.errors import NodeExecutionError
from snapagent.nodes import default_registry
from snapagent.testing import ScriptedChatModel
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2, WorkflowGraph
from snapagent.workflow.validation import validate_graph

from .conftest import context, make_node

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


async def test_placeholder_declares_the_original_ports_and_fails_with_its_message(
    services: ServiceContainer,
) -> None:
    node = make_node(
        "placeholder",
        message="Dify tool google/search has no SnapAgent equivalent",
        source="dify:tool",
        original={"type": "tool", "tool_name": "search"},
        outputs={"text": "string", "json": "array[object]"},
        branches=["approve", "reject"],
    )
    ports = node.port_schema()
    assert [(p.name, p.type.value) for p in ports.outputs] == [
        ("text", "string"),
        ("json", "array[object]"),
    ]
    assert ports.branches == ("approve", "reject")
    with pytest.raises(NodeExecutionError, match="is a placeholder: Dify tool google/search"):
        await node.run({}, context(services))


@pytest.mark.parametrize(
    "config",
    [
        {"message": ""},
        {"message": "x", "outputs": {"1bad": "string"}},
        {"message": "x", "branches": ["fail"]},
        {"message": "x", "branches": ["a", "a"]},
    ],
)
def test_placeholder_config_is_checked(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_node("placeholder", **config)


async def test_placeholder_default_value_lets_the_run_go_on(services: ServiceContainer) -> None:
    graph = WorkflowGraph.from_json(
        {
            "nodes": [
                {"id": "start", "type": "start"},
                {"id": "tool", "type": "placeholder", "config": {"message": "no equivalent",
                 "outputs": {"text": "string"}}, "error_strategy": "default_value",
                 "default_outputs": {"text": "fallback"}},
                {"id": "end", "type": "end", "config": {"outputs": ["answer"]},
                 "inputs": {"answer": {"selector": ["tool", "text"]}}},
            ],
            "edges": [{"source": "start", "target": "tool"}],
        }
    )  # fmt: skip
    registry = default_registry()
    assert not validate_graph(graph, registry)
    result = await WorkflowExecutorV2(registry, services).run(graph, {"query": "q"})
    assert result.outputs == {"answer": "fallback"}
    assert result.nodes["tool"].used_default


async def test_llm_structured_output(services: ServiceContainer, model: ScriptedChatModel) -> None:
    node = make_node("llm", prompt="Where? {{ query }}", structured_output=SCHEMA)
    assert [p.name for p in node.port_schema().outputs] == ["text", "usage", "structured_output"]
    model.enqueue_data({"city": "Paris"})
    chunks: list[tuple[str, str]] = []
    result = await node.run({"query": "the Louvre"}, context(services, chunks=chunks))
    outputs = result.outputs if hasattr(result, "outputs") else result
    assert outputs["structured_output"] == {"city": "Paris"}
    assert outputs["text"] == '{"city": "Paris"}'
    assert chunks == [("n", '{"city": "Paris"}')]
    [request] = model.requests
    assert request.response_format is not None
    assert request.response_format.schema == SCHEMA
    model.enqueue_data(None, text="I think Paris")
    with pytest.raises(NodeExecutionError, match="did not answer with the structured output"):
        await node.run({"query": "q"}, context(services))
    with pytest.raises(ValidationError, match="JSON Schema of an object"):
        make_node("llm", structured_output={"type": "array"})
    assert "structured_output" not in [p.name for p in make_node("llm").port_schema().outputs]
