"""Every real Dify export converts to a graph that validates, and the report accounts for every
source node (none dropped silently). The HTTP pass over the same files, with publishing and
chats, is in tests/api/test_bot_import.py."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.interop.conversion import ImportOptions, convert_document
from snapagent.interop.errors import ImportFormatError
from snapagent.interop.loading import DocumentLimits, load_document
from snapagent.testing.dify_corpus import corpus_files, require_corpus
from snapagent.workflow import WorkflowGraph
from snapagent.workflow.validation import validate_graph

from .dify_docs import REGISTRY

STRUCTURAL = {"iteration-start", "loop-start", ""}


def source_nodes(document: dict[str, Any]) -> list[dict[str, Any]]:
    graph = document.get("workflow", {}).get("graph", {})
    return [n for n in graph.get("nodes", []) if n.get("data", {}).get("type") not in STRUCTURAL]


def our_ids(graph: dict[str, Any]) -> set[str]:
    found = set()
    for node in graph["nodes"]:
        found.add(node["id"])
        body = node.get("config", {}).get("graph")
        if isinstance(body, dict):
            found |= our_ids(body)
    return found


@pytest.mark.parametrize("path", corpus_files() or [None], ids=lambda p: p.name if p else "none")
def test_real_export_converts_validates_and_accounts_for_every_node(path: Any) -> None:
    if path is None:
        require_corpus()
    data = path.read_bytes()
    try:
        bot = convert_document(data, ImportOptions(model_override="offline"))
    except ImportFormatError as exc:  # a refusal must say why
        reason = exc.message
    else:
        reason = ""
    if reason:
        assert len(reason) > 20
        return
    problems = validate_graph(WorkflowGraph.from_json(bot.graph), REGISTRY)
    assert not problems, [p.message for p in problems]
    document = load_document(data, DocumentLimits())
    present = our_ids(bot.graph)
    placeholders = {i.node_id for i in bot.report.items if i.severity == "action"}
    for node in source_nodes(document):
        kind = node["data"]["type"]
        node_id = str(node["id"])
        if kind in ("loop-end",):
            assert node_id in {i.node_id for i in bot.report.items}, node_id
            continue
        converted = bot.report.node_types.get(node_id)
        assert converted is not None, (node_id, kind)
        if converted == "placeholder":
            assert node_id in placeholders, node_id
        assert any(i == node_id or i.startswith(f"{node_id}__") for i in present), node_id


def test_the_corpus_is_all_there() -> None:
    assert len(require_corpus()) == 47
