"""The node catalogue: each type described for editors; ports per config as validation sees them."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.nodes import default_registry
from snapagent.workflow import ErrorStrategy, PortType
from snapagent.workflow.catalogue import (
    NodeConfigError,
    describe_node_type,
    describe_registry,
    node_ports,
)

CATEGORIES = {"io", "model", "knowledge", "logic", "transform", "tools"}


def _undescribed(schema: dict[str, Any]) -> list[str]:
    """Every property (in the model and its nested $defs) that has no description."""
    missing = []
    models = {"config": schema, **{f"$defs.{k}": v for k, v in schema.get("$defs", {}).items()}}
    for where, model in models.items():
        for name, prop in model.get("properties", {}).items():
            if not prop.get("description"):
                missing.append(f"{where}.{name}")
    return missing


@pytest.mark.parametrize("entry", describe_registry(default_registry()), ids=lambda e: e.type)
def test_every_type_is_described_for_editors(entry: Any) -> None:
    assert entry.title
    assert entry.title != entry.type
    assert entry.description
    assert entry.category in CATEGORIES
    assert entry.config_schema["type"] == "object"
    # Unknown config keys are refused, so the console's generated forms are the whole truth.
    assert entry.config_schema.get("additionalProperties") is False
    assert _undescribed(entry.config_schema) == []
    data = entry.to_dict()
    assert set(data) == {
        "type", "version", "title", "description", "category", "config_schema",
        "default_config", "inputs", "outputs", "branches", "dynamic_ports",
    }  # fmt: skip
    for port in data["inputs"] + data["outputs"]:
        assert set(port) == {"name", "type", "required", "default", "description"}


def test_listed_ports_are_those_of_the_default_config() -> None:
    registry = default_registry()
    by_type = {e.type: e for e in describe_registry(registry)}
    assert [p.name for p in by_type["start"].ports.outputs] == ["query", "session_id", "history"]
    assert [p.name for p in by_type["llm"].ports.inputs] == ["query", "history"]
    assert [p.name for p in by_type["llm"].ports.outputs] == ["text", "usage"]
    assert [p.name for p in by_type["end"].ports.inputs] == ["answer"]
    assert by_type["if_else"].ports.branches == ("true", "false")
    # knowledge's empty config is incomplete (no knowledge bases) but its ports do not depend on it
    assert [p.name for p in by_type["knowledge"].ports.inputs] == ["query"]
    assert by_type["knowledge"].ports.outputs[0].type is PortType.DOCUMENTS
    assert by_type["knowledge"].dynamic_ports is False
    assert by_type["template"].dynamic_ports is True
    for entry in by_type.values():
        if entry.dynamic_ports:  # an editor can start from the default config as it is
            node_ports(registry, entry.type, entry.default_config)


def test_ports_follow_the_config() -> None:
    registry = default_registry()
    ports = node_ports(registry, "template", {"template": "{{ greeting }}, {{ name }}"})
    assert [p.name for p in ports.inputs] == ["greeting", "name"]
    config = {
        "cases": [
            {"name": "hello", "conditions": [{"input": "q", "operator": "contains", "value": "hi"}]}
        ]
    }
    assert node_ports(registry, "if_else", config).branches == ("hello", "else")
    routed = node_ports(registry, "if_else", config, error_strategy=ErrorStrategy.FAIL_BRANCH)
    assert routed.branches == ("hello", "else", "fail")
    assert [p.name for p in routed.outputs] == ["error"]


def test_bad_configs_name_each_field() -> None:
    registry = default_registry()
    with pytest.raises(NodeConfigError) as caught:
        node_ports(registry, "if_else", {"cases": [{"name": "1x", "conditions": []}]})
    paths = {p.path: p.message for p in caught.value.problems}
    assert set(paths) == {"config.cases[0].name", "config.cases[0].conditions"}
    assert not any(m.startswith("node ") for m in paths.values())
    with pytest.raises(NodeConfigError) as caught:
        node_ports(registry, "template", {"template": "{% if %}"})
    [problem] = caught.value.problems
    assert problem.path == "config.template"
    assert "syntax error" in problem.message
    with pytest.raises(NodeConfigError) as caught:
        node_ports(registry, "nope", {})
    [problem] = caught.value.problems
    assert problem.path == "type"
    assert "known types: agent, answer, code, document_extractor, end" in problem.message


def test_entries_are_cached_per_type() -> None:
    registry = default_registry()
    llm = registry.get("llm")
    assert llm is not None
    assert describe_node_type(llm) is describe_node_type(llm)
