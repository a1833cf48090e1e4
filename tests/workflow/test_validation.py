"""Static validation: each problem kind, reported all at once with where and why."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from snapagent.errors import DefinitionError, GraphValidationError
from snapagent.nodes import default_registry
from snapagent.testing import GraphBuilder
from snapagent.workflow import (
    BaseNodeV2,
    NodeRegistryV2,
    ValidationProblem,
    WorkflowGraph,
    validate_graph,
)
from snapagent.workflow.plan import compile_plan

from .conftest import ARCHITECTURE_EXAMPLE


def problems(
    data: dict[str, Any] | WorkflowGraph, registry: NodeRegistryV2
) -> list[ValidationProblem]:
    graph = data if isinstance(data, WorkflowGraph) else WorkflowGraph.from_json(data)
    return validate_graph(graph, registry)


def codes(found: list[ValidationProblem]) -> list[str]:
    return sorted(p.code for p in found)


def simple() -> GraphBuilder:
    return GraphBuilder().node("start", "start").node("end", "end", outputs=["answer"])


def test_architecture_example_is_valid(registry: NodeRegistryV2) -> None:
    assert problems(copy.deepcopy(ARCHITECTURE_EXAMPLE), registry) == []


def test_duplicate_and_reserved_ids(registry: NodeRegistryV2) -> None:
    graph = simple().node("end", "end").node("sys", "upper").edge("start.query", "end.answer")
    found = problems(graph.build(), registry)
    assert "duplicate_node_id" in codes(found)
    assert "reserved_node_id" in codes(found)
    dup = next(p for p in found if p.code == "duplicate_node_id")
    assert dup.node_id == "end"
    assert dup.path == "nodes[2]"


def test_unknown_node_type_lists_known_types(registry: NodeRegistryV2) -> None:
    graph = simple().node("x", "nope").edge("start.query", "end.answer").edge("start", "x")
    (problem,) = problems(graph.build(), registry)
    assert problem.code == "unknown_node_type"
    assert problem.path == "nodes[2].type"
    assert "known types:" in problem.message
    assert "llm" in problem.message


def test_invalid_config_names_the_field(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node(
            "kb", "knowledge", inputs={"query": ["start", "query"]}, knowledge_base_ids=[], top_k=0
        )
        .edge("start.query", "end.answer")
    )
    found = problems(graph.build(), registry)
    assert codes(found) == ["invalid_config", "invalid_config"]
    paths = {p.path for p in found if p.code == "invalid_config"}
    assert paths == {"nodes[2].config.knowledge_base_ids", "nodes[2].config.top_k"}


def test_template_syntax_error_is_invalid_config(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("t", "template", template="{{ broken")
        .edge("start", "t")
        .edge("start.query", "end.answer")
    )
    found = problems(graph.build(), registry)
    assert [p.code for p in found] == ["invalid_config"]
    assert "syntax error" in found[0].message
    assert found[0].path == "nodes[2].config.template"  # the field, not just the node


@pytest.mark.parametrize(
    ("node_type", "config", "field"),
    [
        ("llm", {"prompt": "{% if %}"}, "config.prompt"),
        ("llm", {"system_prompt": "{{ x ", "prompt": "ok"}, "config.system_prompt"),
        ("answer", {"answer": "{{"}, "config.answer"),
        ("http_request", {"url": "https://x.test/{{ q"}, "config.url"),
        (
            "http_request",
            {"url": "https://x.test", "headers": {"X-A": "{% x"}},
            "config.headers.X-A",
        ),
        (
            "http_request",
            {"url": "https://x.test", "body": {"type": "json", "json_value": {"a": [1, "{{"]}}},
            "config.body.json_value.a[1]",
        ),
    ],
)
def test_every_template_syntax_error_points_at_its_field(
    registry: NodeRegistryV2, node_type: str, config: dict[str, Any], field: str
) -> None:
    graph = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "t", "type": node_type, "config": config},
            {"id": "end", "type": "end"},
        ],
        "edges": [{"source": "start", "target": "t"}, {"source": "t", "target": "end"}],
    }
    (problem,) = [p for p in problems(graph, registry) if "syntax error" in p.message]
    assert (problem.code, problem.path) == ("invalid_config", f"nodes[1].{field}")


def test_config_paths_put_every_index_in_brackets(registry: NodeRegistryV2) -> None:
    graph = simple().node("c", "if_else", cases=[{"name": 1}]).edge("start", "c")
    found = problems(graph.build(), registry)
    assert {p.path for p in found if p.code == "invalid_config"} == {
        "nodes[2].config.cases[0].name",
        "nodes[2].config.cases[0].conditions",
    }


def test_default_outputs_must_name_outputs(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node(
            "u", "upper", settings={"error_strategy": "default_value", "default_outputs": {"x": 1}}
        )
        .edge("start.query", "u.text")
        .edge("u.text", "end.answer")
    )
    (problem,) = problems(graph.build(), registry)
    assert problem.code == "invalid_node_settings"
    assert problem.path == "nodes[2].default_outputs.x"


def test_start_and_end_counts(registry: NodeRegistryV2) -> None:
    assert codes(problems({"nodes": [], "edges": []}, registry)) == ["no_end_node", "no_start_node"]
    graph = GraphBuilder().node("a", "start").node("b", "start").node("end", "end")
    graph.edge("a.query", "end.answer")
    assert "multiple_start_nodes" in codes(problems(graph.build(), registry))


def test_a_start_or_end_node_with_a_duplicate_id_is_not_also_missing(
    registry: NodeRegistryV2,
) -> None:
    graph = {
        "nodes": [
            {"id": "a", "type": "template", "config": {"template": "x"}},
            {"id": "a", "type": "start"},
            {"id": "b", "type": "template", "config": {"template": "y"}},
            {"id": "b", "type": "end"},
        ],
        "edges": [],
    }
    found = problems(graph, registry)
    assert [
        (p.code, p.path) for p in found if p.code.endswith(("_id", "start_node", "end_node"))
    ] == [
        ("duplicate_node_id", "nodes[1]"),
        ("duplicate_node_id", "nodes[3]"),
    ]


def test_unknown_nodes_and_ports_list_what_exists(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("u", "upper")
        .edge("start.querry", "u.text")
        .edge("u.text", "end.answr")
        .edge("ghost.text", "end.answer")
    )
    found = problems(graph.build(), registry)
    by_path = {p.path: p for p in found}
    assert by_path["edges[0].source_port"].code == "unknown_port"
    assert "query (string)" in by_path["edges[0].source_port"].message
    assert by_path["edges[1].target_port"].code == "unknown_port"
    assert "answer (any)" in by_path["edges[1].target_port"].message
    assert by_path["edges[2].source"].code == "unknown_node"
    assert by_path["edges[2].source"].edge_index == 2


def test_type_mismatch_on_edge_and_selector(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("c", "count")
        .node("u", "upper")
        .node("u2", "upper", inputs={"text": ["c", "n"]})
        .edge("start.query", "c.text")
        .edge("c.n", "u.text")
        .edge("u.text", "end.answer")
        .edge("u2.text", "end.answer")
    )
    found = [p for p in problems(graph.build(), registry) if p.code == "type_mismatch"]
    assert {p.path for p in found} == {"edges[1]", "nodes[4].inputs.text.selector"}
    assert "integer" in found[0].message
    assert "string" in found[0].message


def test_missing_required_input(registry: NodeRegistryV2) -> None:
    graph = simple().node("u", "upper").edge("start", "u").edge("u.text", "end.answer")
    (problem,) = problems(graph.build(), registry)
    assert problem.code == "missing_required_input"
    assert problem.path == "nodes[2].inputs.text"


def test_two_values_into_one_port_outside_branches(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("a", "upper")
        .node("b", "upper")
        .edge("start.query", "a.text")
        .edge("start.query", "b.text")
        .edge("a.text", "end.answer")
        .edge("b.text", "end.answer")
    )
    (problem,) = problems(graph.build(), registry)
    assert problem.code == "conflicting_inputs"
    assert problem.edge_index == 3


def test_edge_and_selector_into_one_port(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("a", "upper", inputs={"text": ["start", "query"]})
        .edge("start.query", "a.text")
        .edge("a.text", "end.answer")
    )
    assert codes(problems(graph.build(), registry)) == ["conflicting_inputs"]


def branch_join(registry: NodeRegistryV2) -> GraphBuilder:
    return (
        simple()
        .node(
            "route",
            "if_else",
            inputs={"q": ["start", "query"]},
            cases=[{"conditions": [{"input": "q", "operator": "contains", "value": "x"}]}],
        )
        .node("a", "upper", inputs={"text": ["start", "query"]})
        .node("b", "count", inputs={"text": ["start", "query"]})
        .edge("route.true", "a")
        .edge("route.false", "b")
        .edge("a.text", "end.answer")
        .edge("b.n", "end.answer")
    )


def test_exclusive_branches_may_share_a_port(registry: NodeRegistryV2) -> None:
    assert problems(branch_join(registry).build(), registry) == []


def test_fail_branch_and_success_path_are_exclusive(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("a", "upper", settings={"error_strategy": "fail_branch"})
        .node("t", "template", template="failed: {{ e }}")
        .edge("start.query", "a.text")
        .edge("a.error", "t.e")
        .edge("a.text", "end.answer")
        .edge("t.text", "end.answer")
    )
    assert problems(graph.build(), registry) == []


def test_branch_port_carries_no_value(registry: NodeRegistryV2) -> None:
    graph = branch_join(registry).edge("route.true", "end.answer")
    assert "branch_port_value" in codes(problems(graph.build(), registry))


def test_value_edge_needs_source_port(registry: NodeRegistryV2) -> None:
    graph = simple().edge("start", "end.answer")
    assert codes(problems(graph.build(), registry)) == ["missing_source_port"]


def test_cycle_is_named(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("a", "upper")
        .node("b", "upper")
        .edge("start", "a")
        .edge("a.text", "b.text")
        .edge("b.text", "a.text")
        .edge("b.text", "end.answer")
    )
    found = [p for p in problems(graph.build(), registry) if p.code == "cycle"]
    assert len(found) == 1
    assert found[0].message.endswith("a -> b -> a")


def test_selector_must_point_upstream(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("a", "upper", inputs={"text": ["b", "text"]})
        .node("b", "upper")
        .edge("start", "a")
        .edge("a.text", "b.text")
        .edge("b.text", "end.answer")
    )
    found = problems(graph.build(), registry)
    assert codes(found) == ["selector_not_upstream"]
    assert found[0].path == "nodes[2].inputs.text.selector"


def test_selector_to_unknown_node_and_port(registry: NodeRegistryV2) -> None:
    graph = (
        simple()
        .node("a", "upper", inputs={"text": ["ghost", "text"]})
        .node("b", "upper", inputs={"text": ["start", "nothing"]})
        .edge("start", "a")
        .edge("a.text", "end.answer")
        .edge("b.text", "end.answer")
    )
    found = problems(graph.build(), registry)
    assert {"unknown_node", "unknown_port"} <= set(codes(found))


def test_unreachable_node(registry: NodeRegistryV2) -> None:
    graph = simple().node("t", "template", template="constant").edge("start.query", "end.answer")
    (problem,) = problems(graph.build(), registry)
    assert problem.code == "unreachable_node"
    assert problem.node_id == "t"


def test_every_problem_is_reported_at_once(registry: NodeRegistryV2) -> None:
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("start", "start")
        .node("x", "nope")
        .node("u", "upper")
        .edge("start.query", "u.txt")
        .edge("u.text", "ghost.in")
    )
    found = problems(graph.build(), registry)
    assert {
        "duplicate_node_id",
        "unknown_node_type",
        "unknown_port",
        "unknown_node",
        "no_end_node",
    } <= set(codes(found))
    with pytest.raises(GraphValidationError) as info:
        compile_plan(graph.build(), registry)
    assert info.value.problems == found
    assert isinstance(info.value, DefinitionError)
    assert isinstance(info.value, ValueError)
    assert all(p.to_dict()["message"] for p in found)


@pytest.mark.parametrize(
    "path",
    sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json")),
    ids=lambda p: p.name,
)
def test_shipped_examples_are_valid(path: Path) -> None:
    graph = WorkflowGraph.from_json(json.loads(path.read_text()))
    assert validate_graph(graph, default_registry()) == []


def test_node_types_declare_the_knowledge_bases_and_models_their_config_names() -> None:
    registry = default_registry()
    knowledge, llm, template = (registry.get(k) for k in ("knowledge", "llm", "template"))
    assert knowledge is not None
    assert llm is not None
    assert template is not None
    refs = knowledge.resources({"knowledge_base_ids": ["a", "b"], "top_k": 3})
    assert [(r.kind, r.value, r.path) for r in refs] == [
        ("knowledge_base", "a", "config.knowledge_base_ids[0]"),
        ("knowledge_base", "b", "config.knowledge_base_ids[1]"),
    ]
    assert [(r.kind, r.value) for r in llm.resources({})] == [("chat_model", None)]
    assert [(r.kind, r.value) for r in llm.resources({"model": "offline"})] == [
        ("chat_model", "offline")
    ]
    assert template.resources({"template": "{{ x }}"}) == []
    # Any node type, at any depth: a new or unknown type cannot hide a knowledge base.
    nested = BaseNodeV2.resources({"tools": [{"knowledge_base_id": "c"}]})
    assert [(r.value, r.path) for r in nested] == [("c", "config.tools[0].knowledge_base_id")]
