"""V1 graph validation reports every problem with a path; valid graphs load unchanged."""

from __future__ import annotations

import random
from typing import Any

import pytest

from snapagent.errors import GraphValidationError, SnapAgentError
from snapagent.legacy import (
    LegacyWorkflowError,
    V1Workflow,
    execution_order,
    load_v1_workflow,
    validate_v1_workflow,
)
from snapagent.legacy.samples import MALFORMED, generated_workflow, rag_workflow


def codes(raw: Any) -> set[str]:
    return {p.code for p in validate_v1_workflow(raw)}


def test_architecture_example_is_valid_and_round_trips() -> None:
    raw = {
        "nodes": [
            {"id": "n1", "type": "start"},
            {"id": "n2", "type": "knowledge", "data": {"knowledge_base_ids": ["kb"], "top_k": 3}},
            {
                "id": "n3",
                "type": "llm",
                "data": {"model": "m", "system_prompt": "s", "temperature": 0.7},
            },
            {"id": "n4", "type": "end"},
        ],
        "edges": [
            {"source": "n1", "target": "n2"},
            {"source": "n2", "target": "n3"},
            {"source": "n3", "target": "n4"},
        ],
    }
    assert validate_v1_workflow(raw) == []
    assert load_v1_workflow(raw).to_json() == raw


def test_editor_metadata_on_nodes_is_kept() -> None:
    raw = rag_workflow()
    raw["nodes"][0]["position"] = {"x": 1, "y": 2}
    assert load_v1_workflow(raw).to_json() == raw


def test_unknown_node_type_names_the_type_and_the_known_ones() -> None:
    (problem,) = validate_v1_workflow(MALFORMED["unknown_type"]())
    assert problem.code == "unknown_node_type"
    assert problem.path == "nodes[1].type"
    assert problem.node_id == "n2"
    assert "'web_search'" in problem.message
    assert "knowledge" in problem.message


def test_dangling_edge_points_at_the_edge_end() -> None:
    problems = validate_v1_workflow(MALFORMED["missing_node"]())
    dangling = [p for p in problems if p.code == "unknown_node"]
    assert [(p.path, p.edge_index) for p in dangling] == [
        ("edges[0].target", 0),
        ("edges[1].source", 1),
    ]


def test_cycle_lists_its_nodes() -> None:
    problems = [p for p in validate_v1_workflow(MALFORMED["cycle"]()) if p.code == "cycle"]
    assert len(problems) == 1
    assert "n2 -> n3 -> n2" in problems[0].message


def test_self_loop_is_a_cycle() -> None:
    raw = rag_workflow()
    raw["edges"].append({"source": "n3", "target": "n3"})
    assert "cycle" in codes(raw)


def test_bad_data_reports_each_field() -> None:
    problems = validate_v1_workflow(MALFORMED["bad_data"]())
    assert {(p.code, p.path) for p in problems} == {
        ("invalid_config", "nodes[1].data.top_k"),
        ("invalid_config", "nodes[2].data.temperature"),
    }


def test_unknown_data_key_is_rejected_not_dropped() -> None:
    raw = rag_workflow()
    raw["nodes"][2]["data"]["prompt_template"] = "x"
    (problem,) = validate_v1_workflow(raw)
    assert problem.path == "nodes[2].data.prompt_template"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"nodes": [], "edges": []}, {"no_start_node", "no_end_node"}),
        (
            {
                "nodes": [{"id": "s", "type": "start"}, {"id": "e", "type": "end"}],
                "edges": [{"source": "s", "target": "e"}],
            },
            {"no_response"},
        ),
        ("not json object", {"schema"}),
        ({"nodes": "x", "edges": 3}, {"schema", "no_start_node", "no_end_node"}),
        (
            {"nodes": [{"type": "start"}], "edges": [{"source": 1}]},
            {"schema", "no_start_node", "no_end_node"},
        ),
    ],
)
def test_structural_problems(raw: Any, expected: set[str]) -> None:
    assert codes(raw) == expected


def test_several_starts_and_ends_duplicates_and_unreachable() -> None:
    raw = rag_workflow()
    raw["nodes"] += [
        {"id": "s2", "type": "start"},
        {"id": "e2", "type": "end"},
        {"id": "n2", "type": "llm"},
        {"id": "lonely", "type": "llm"},
    ]
    raw["edges"] += [{"source": "n4", "target": "n1"}]
    found = codes(raw)
    assert {
        "multiple_start_nodes",
        "multiple_end_nodes",
        "duplicate_node_id",
        "edge_into_start",
        "edge_from_end",
        "cycle",
    } <= found


def test_unreachable_node_is_reported() -> None:
    raw = rag_workflow()
    raw["nodes"].append({"id": "lonely", "type": "llm"})
    (problem,) = validate_v1_workflow(raw)
    assert (problem.code, problem.node_id, problem.path) == (
        "unreachable_node",
        "lonely",
        "nodes[4]",
    )


def test_all_problems_are_reported_at_once() -> None:
    raw = MALFORMED["bad_data"]()
    raw["nodes"].append({"id": "x", "type": "mystery"})
    raw["edges"].append({"source": "n4", "target": "ghost"})
    assert {"invalid_config", "unknown_node_type", "unknown_node"} <= codes(raw)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_every_malformed_sample_raises_a_graph_validation_error(name: str) -> None:
    with pytest.raises(LegacyWorkflowError) as info:
        load_v1_workflow(MALFORMED[name]())
    err = info.value
    assert isinstance(err, GraphValidationError)
    assert isinstance(err, SnapAgentError)
    assert err.problems
    assert err.details["problems"][0]["code"] == err.problems[0].code
    assert err.problems[0].message in str(err)


def test_generated_graphs_are_valid() -> None:
    rng = random.Random(7)
    for _ in range(200):
        assert validate_v1_workflow(generated_workflow(rng, huge_prompt_chars=5000)) == []


def test_execution_order_is_topological_with_ties_by_position() -> None:
    wf = V1Workflow.model_validate(
        {
            "nodes": [
                {"id": "end", "type": "end"},
                {"id": "b", "type": "llm"},
                {"id": "a", "type": "knowledge"},
                {"id": "s", "type": "start"},
            ],
            "edges": [
                {"source": "s", "target": "a"},
                {"source": "s", "target": "b"},
                {"source": "a", "target": "end"},
                {"source": "b", "target": "end"},
            ],
        }
    )
    assert [n.id for n in execution_order(wf)] == ["s", "b", "a", "end"]
