"""The structural diff of two workflow graphs."""

from __future__ import annotations

import copy
from typing import Any

from snapagent.services.bots import default_graph
from snapagent.services.workflow_diff import EdgeKey, diff_graphs


def _graph() -> dict[str, Any]:
    return default_graph(["kb-1"])


def test_identical_graphs_have_an_empty_diff() -> None:
    diff = diff_graphs(_graph(), _graph())
    assert diff.is_empty
    assert diff.to_dict() == {
        "nodes_added": [],
        "nodes_removed": [],
        "nodes_changed": [],
        "edges_added": [],
        "edges_removed": [],
    }


def test_node_changes_are_reported_by_dotted_field() -> None:
    before = _graph()
    after = copy.deepcopy(before)
    after["nodes"][1]["config"]["top_k"] = 8
    after["nodes"][1]["config"]["mode"] = "vector"  # added key
    del after["nodes"][2]["config"]["prompt"]  # removed key
    after["nodes"][2]["inputs"] = {"history": {"selector": ["start", "history"]}}
    after["nodes"][3]["title"] = "Done"

    diff = diff_graphs(before, after)
    by_node = {c.node_id: c for c in diff.nodes_changed}
    assert sorted(by_node) == ["end", "knowledge", "llm"]
    assert by_node["knowledge"].changed_fields == ["config.mode", "config.top_k"]
    top_k = by_node["knowledge"].changes[1]
    assert (top_k.before, top_k.after) == (4, 8)
    mode = by_node["knowledge"].changes[0]
    assert (mode.before, mode.after) == (None, "vector")
    assert by_node["llm"].changed_fields == ["config.prompt", "inputs.history.selector"]
    assert by_node["llm"].changes[0].after is None
    assert by_node["end"].changed_fields == ["title"]
    assert not diff.nodes_added
    assert not diff.edges_added


def test_added_removed_nodes_and_rewired_edges() -> None:
    before = _graph()
    after = copy.deepcopy(before)
    after["nodes"] = [n for n in after["nodes"] if n["id"] != "knowledge"]
    after["nodes"].append({"id": "tpl", "type": "template", "config": {"template": "{{ q }}"}})
    after["edges"] = [e for e in after["edges"] if "knowledge" not in (e["source"], e["target"])]
    after["edges"].append(
        {"source": "tpl", "source_port": "text", "target": "llm", "target_port": "context"}
    )
    after["edges"].append({"source": "start", "target": "tpl"})  # a control edge

    diff = diff_graphs(before, after)
    assert diff.nodes_added == ["tpl"]
    assert diff.nodes_removed == ["knowledge"]
    assert diff.edges_added == [
        EdgeKey("tpl", "llm", "text", "context"),
        EdgeKey("start", "tpl", None, None),
    ]
    assert set(diff.edges_removed) == {
        EdgeKey("start", "knowledge", "query", "query"),
        EdgeKey("knowledge", "llm", "documents", "context"),
    }


def test_duplicate_edges_count_as_a_multiset() -> None:
    edge = {"source": "a", "target": "b"}
    before = {"nodes": [], "edges": [edge]}
    after = {"nodes": [], "edges": [edge, dict(edge)]}
    assert diff_graphs(before, after).edges_added == [EdgeKey("a", "b")]
    assert diff_graphs(after, before).edges_removed == [EdgeKey("a", "b")]


def test_changing_a_port_is_one_edge_removed_and_one_added() -> None:
    before = _graph()
    after = copy.deepcopy(before)
    after["edges"][0]["target_port"] = "other"
    diff = diff_graphs(before, after)
    assert diff.edges_removed == [EdgeKey("start", "knowledge", "query", "query")]
    assert diff.edges_added == [EdgeKey("start", "knowledge", "query", "other")]


def test_malformed_graph_parts_are_ignored_not_fatal() -> None:
    diff = diff_graphs({"nodes": [{"type": "x"}, "junk"], "edges": ["junk"]}, {"nodes": None})
    assert diff.is_empty
