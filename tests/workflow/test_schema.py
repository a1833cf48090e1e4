"""Graph JSON <-> models: exact round trips, port types, selectors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from snapagent.workflow import (
    ErrorStrategy,
    PortDefinition,
    PortType,
    RetryPolicy,
    ValueSelector,
    WorkflowGraph,
    fits,
)

from .conftest import ARCHITECTURE_EXAMPLE

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_architecture_example_round_trips_exactly() -> None:
    graph = WorkflowGraph.from_json(copy.deepcopy(ARCHITECTURE_EXAMPLE))
    assert graph.to_json() == ARCHITECTURE_EXAMPLE
    assert json.loads(json.dumps(graph.to_json())) == ARCHITECTURE_EXAMPLE
    assert graph.node("kb").inputs["query"].selector.node_id == "start"


def test_node_settings_and_unknown_keys_round_trip() -> None:
    data = {
        "nodes": [
            {
                "id": "llm",
                "type": "llm",
                "config": {},
                "timeout_s": 2.5,
                "retry": {"max_retries": 2, "backoff_s": 0.1},
                "error_strategy": "fail_branch",
                "default_outputs": {"text": "sorry"},
                "position": {"x": 10, "y": 20},
            }
        ],
        "edges": [{"source": "a", "target": "b", "label": "ui"}],
        "viewport": {"zoom": 1},
    }
    graph = WorkflowGraph.from_json(copy.deepcopy(data))
    assert graph.to_json() == data
    node = graph.nodes[0]
    assert node.error_strategy is ErrorStrategy.FAIL_BRANCH
    assert node.retry == RetryPolicy(max_retries=2, backoff_s=0.1)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_shipped_examples_round_trip(path: Path) -> None:
    data = json.loads(path.read_text())
    assert WorkflowGraph.from_json(data).to_json() == data


def test_graph_is_frozen() -> None:
    graph = WorkflowGraph.from_json(ARCHITECTURE_EXAMPLE)
    with pytest.raises(ValidationError):
        graph.nodes[0].id = "other"  # type: ignore[misc]


def test_malformed_shapes_fail_with_field_errors() -> None:
    with pytest.raises(ValidationError, match="nodes"):
        WorkflowGraph.from_json({"nodes": [{"type": "start"}]})
    with pytest.raises(ValidationError, match="JSON object"):
        WorkflowGraph.from_json([1, 2])
    with pytest.raises(ValidationError, match="timeout_s"):
        WorkflowGraph.from_json({"nodes": [{"id": "a", "type": "x", "timeout_s": -1}]})


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (PortType.INTEGER, PortType.NUMBER, True),
        (PortType.NUMBER, PortType.INTEGER, False),
        (PortType.STRING, PortType.ANY, True),
        (PortType.ANY, PortType.STRING, True),
        (PortType.DOCUMENTS, PortType.ARRAY_OBJECT, True),
        (PortType.MESSAGES, PortType.ARRAY_OBJECT, True),
        (PortType.ARRAY_OBJECT, PortType.DOCUMENTS, False),
        (PortType.STRING, PortType.NUMBER, False),
        (PortType.ARRAY_STRING, PortType.ARRAY_NUMBER, False),
        (PortType.BOOLEAN, PortType.BOOLEAN, True),
    ],
)
def test_port_type_compatibility(source: PortType, target: PortType, expected: bool) -> None:
    assert fits(source, target) is expected
    assert source.fits(target) is expected


def test_every_architecture_port_type_exists() -> None:
    spelled = {t.value for t in PortType}
    assert spelled == {
        "string",
        "number",
        "integer",
        "boolean",
        "object",
        "array[string]",
        "array[number]",
        "array[object]",
        "documents",
        "messages",
        "any",
    }


def test_value_selector_parts() -> None:
    sel = ValueSelector(("kb", "documents", 0, "text"))
    assert (sel.node_id, sel.port, sel.path) == ("kb", "documents", (0, "text"))
    assert not sel.is_sys
    assert ValueSelector(("sys", "bot_id")).is_sys
    assert str(sel) == "kb.documents.0.text"
    with pytest.raises(ValidationError, match="at least"):
        ValueSelector(("kb",))
    with pytest.raises(ValidationError, match="must be strings"):
        ValueSelector((0, "x"))


def test_port_definition_default_is_explicit() -> None:
    assert PortDefinition(name="a", default=None).has_default
    assert not PortDefinition(name="a").has_default
    with pytest.raises(ValidationError):
        PortDefinition(name="1abc")


def test_retry_backoff_grows_and_caps() -> None:
    policy = RetryPolicy(max_retries=5, backoff_s=1.0, backoff_multiplier=2.0, max_backoff_s=3.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
