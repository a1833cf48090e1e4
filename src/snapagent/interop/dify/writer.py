"""Our bot -> a Dify app export (DSL 0.3.1), best effort, with a report of what differs.

    document, report = write_dify(bot={"name": "Support"}, graph=graph)

A graph whose end node outputs ``answer`` (or that has answer nodes) becomes an
``advanced-chat`` app - its end node an answer node - otherwise a ``workflow`` app. Values that
travel by edge here travel by selector in Dify, and every node gets an incoming edge (Dify runs
only what an edge reaches). Nodes that came from Dify and had no equivalent (placeholders) are
written back exactly as they were. Knowledge bases cannot be Dify datasets: their nodes are
written without datasets (reported). Node by node: `writer_nodes`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from snapagent.interop.dify.templates_out import Selector
from snapagent.interop.dify.writer_nodes import NodeWriter, stable_id
from snapagent.interop.report import ImportReport

__all__ = ["DIFY_VERSION", "write_dify"]

DIFY_VERSION = "0.3.1"
"""The DSL version written: new enough for loops, error strategies and retries, old enough
for the Dify versions most installations run."""
_FEATURES: dict[str, Any] = {
    "file_upload": {"enabled": False},
    "opening_statement": "",
    "retriever_resource": {"enabled": True},
    "sensitive_word_avoidance": {"enabled": False},
    "speech_to_text": {"enabled": False},
    "suggested_questions": [],
    "suggested_questions_after_answer": {"enabled": False},
    "text_to_speech": {"enabled": False, "language": "", "voice": ""},
}


def _lexical(text: str) -> str:
    paragraphs = []
    for line in text.split("\n"):
        leaf = {"detail": 0, "format": 0, "mode": "normal", "style": "", "text": line}
        children = [{**leaf, "type": "text", "version": 1}] if line else []
        paragraphs.append({"children": children, "direction": "ltr", "format": "", "indent": 0,
                           "type": "paragraph", "version": 1, "textFormat": 0})  # fmt: skip
    root = {
        "children": paragraphs,
        "direction": "ltr",
        "format": "",
        "indent": 0,
        "type": "root",
        "version": 1,
    }
    return json.dumps({"root": root}, ensure_ascii=False)


def _data_edges(graph: dict[str, Any]) -> dict[str, dict[str, Selector]]:
    found: dict[str, dict[str, Selector]] = {}
    for edge in graph.get("edges", []):
        if edge.get("target_port") and edge.get("source_port"):
            found.setdefault(edge["target"], {})[edge["target_port"]] = [
                edge["source"],
                edge["source_port"],
            ]
    return found


def _layout(index: int, node: dict[str, Any]) -> dict[str, int]:
    position = node.get("position")
    if (
        isinstance(position, dict)
        and isinstance(position.get("x"), int | float)
        and isinstance(position.get("y"), int | float)
    ):
        return {"x": position["x"], "y": position["y"]}
    return {"x": 80 + 320 * index, "y": 240}


def _dify_level(
    writer: NodeWriter, graph: dict[str, Any], container: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Dify nodes and edges of one level (a container's body, with its start node)."""
    data_edges = _data_edges(graph)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    kinds: dict[str, str] = {}
    branch_handles: dict[str, dict[str, str]] = {}
    in_iteration = container is not None and container["type"] == "iteration"
    in_loop = container is not None and container["type"] == "loop"
    incoming: set[str] = set()
    for index, node in enumerate(graph.get("nodes", [])):
        inputs = writer.inputs(node, data_edges)
        kind = node.get("type", "")
        if kind in ("iteration", "loop"):
            data, children, child_edges = _container(writer, node, inputs)
        else:
            data, children, child_edges = writer.node_data(node, inputs), [], []
        data.setdefault("title", node.get("title") or kind)
        data.setdefault("desc", node.get("description", ""))
        writer.settings(node, data)
        if container is not None:
            data["isInIteration"] = in_iteration
            data["isInLoop"] = in_loop
            data["iteration_id" if in_iteration else "loop_id"] = container["id"]
        kinds[node["id"]] = data["type"]
        if data["type"] == "if-else":
            branch_handles[node["id"]] = {
                c.get("name") or "true": c.get("name") or "true"
                for c in node["config"].get("cases", [])
            }
            branch_handles[node["id"]]["else"] = "false"
            branch_handles[node["id"]]["false"] = "false"
        dify_node: dict[str, Any] = {
            "id": node["id"],
            "type": "custom",
            "data": data,
            "position": _layout(index, node),
            "positionAbsolute": _layout(index, node),
            "width": 244,
            "height": 90,
            "sourcePosition": "right",
            "targetPosition": "left",
        }
        if container is not None:
            dify_node["parentId"] = container["id"]
            dify_node["zIndex"] = 1002
        nodes.append(dify_node)
        nodes += children
        edges += child_edges
    for edge in _control_edges(graph, data_edges, writer):
        source, port, target = edge
        handle = "source"
        if port == "fail":
            handle = "fail-branch"
        elif port is not None:
            handle = branch_handles.get(source, {}).get(port, port)
        incoming.add(target)
        edges.append(_edge(source, handle, target, kinds, container))
    for node in graph.get("nodes", []):
        if node["id"] in incoming or node.get("type") == "start":
            continue
        if container is not None:
            start = f"{container['id']}start"
            kinds[start] = f"{container['type']}-start"
            edges.append(_edge(start, "source", node["id"], kinds, container))
        else:
            sources = {s[0] for s in writer.inputs(node, data_edges).values() if s[0] in kinds}
            for source in sorted(sources) or [writer.start_id]:
                edges.append(_edge(source, "source", node["id"], kinds, None))
    return nodes, edges


def _control_edges(
    graph: dict[str, Any], data_edges: dict[str, dict[str, Selector]], writer: NodeWriter
) -> Iterator[tuple[str, str | None, str]]:
    seen: set[tuple[str, str | None, str]] = set()
    for edge in graph.get("edges", []):
        port = None if edge.get("target_port") else edge.get("source_port")
        key = (edge["source"], port, edge["target"])
        if key not in seen:
            seen.add(key)
            yield key


def _edge(
    source: str, handle: str, target: str, kinds: dict[str, str], container: dict[str, Any] | None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "sourceType": kinds.get(source, ""),
        "targetType": kinds.get(target, ""),
        "isInIteration": container is not None and container["type"] == "iteration",
        "isInLoop": container is not None and container["type"] == "loop",
    }
    if container is not None:
        data["iteration_id" if container["type"] == "iteration" else "loop_id"] = container["id"]
    return {
        "id": f"{source}-{handle}-{target}-target",
        "source": source,
        "sourceHandle": handle,
        "target": target,
        "targetHandle": "target",
        "type": "custom",
        "zIndex": 1002 if container is not None else 0,
        "data": data,
    }


def _container(
    writer: NodeWriter, node: dict[str, Any], inputs: dict[str, list[str]]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    config = node.get("config") or {}
    kind = node["type"]
    body = config.get("graph") or {"nodes": [], "edges": []}
    start_id = f"{node['id']}start"
    start = {
        "id": start_id,
        "type": f"custom-{kind}-start",
        "parentId": node["id"],
        "position": {"x": 24, "y": 68},
        "positionAbsolute": {"x": 24, "y": 68},
        "draggable": False,
        "selectable": False,
        "width": 44,
        "height": 48,
        "zIndex": 1002,
        "data": {
            "type": f"{kind}-start",
            "title": "",
            "desc": "",
            "isInIteration": kind == "iteration",
            "isInLoop": kind == "loop",
        },
    }
    children, edges = _dify_level(writer, body, node)
    if kind == "iteration":
        outputs = config.get("outputs") or {}
        if len(outputs) > 1:
            writer.note(
                "warning",
                "an iteration with several outputs: Dify's has one",
                f"only {next(iter(outputs))!r} is written",
                node["id"],
            )
        first = next(iter(outputs.values()), None)
        output = writer.selector(first, node["id"]) if first else None
        data = {
            "type": "iteration",
            "iterator_selector": inputs.get("items", []),
            "output_selector": output or [],
            "output_type": "array[string]",
            "start_node_id": start_id,
            "is_parallel": config.get("parallelism", 1) > 1,
            "parallel_nums": config.get("parallelism", 10),
            "error_handle_mode": {
                "fail": "terminated",
                "continue": "continue-on-error",
                "drop": "remove-abnormal-output",
            }.get(config.get("on_item_error", "fail"), "terminated"),
            "width": 800,
            "height": 300,
        }
        return data, [start, *children], edges
    variables = []
    for variable in config.get("loop_variables", []):
        entry = {
            "id": stable_id(node["id"], variable["name"]),
            "label": variable["name"],
            "var_type": variable.get("type", "string")
            if variable.get("type") != "any"
            else "string",
        }
        if variable["name"] in inputs:
            entry.update(value_type="variable", value=inputs[variable["name"]])
        else:
            entry.update(value_type="constant", value=variable.get("default"))
        variables.append(entry)
    updates = config.get("updates") or {}
    if updates:
        assigner_id = f"{node['id']}_updates"
        items = []
        for name, selector in updates.items():
            value = writer.selector(selector, node["id"])
            items.append(
                {
                    "variable_selector": [node["id"], name],
                    "input_type": "variable",
                    "operation": "over-write",
                    "value": value,
                }
            )
        children.append(
            {
                "id": assigner_id,
                "type": "custom",
                "parentId": node["id"],
                "position": {"x": 600, "y": 68},
                "positionAbsolute": {"x": 600, "y": 68},
                "zIndex": 1002,
                "data": {
                    "type": "assigner",
                    "version": "2",
                    "title": "loop updates",
                    "desc": "",
                    "items": items,
                    "isInLoop": True,
                    "loop_id": node["id"],
                },
            }
        )
        sources = {c["id"] for c in children if c["id"] != assigner_id}
        targets = {e["source"] for e in edges}
        for leaf in sorted(sources - targets):
            edges.append(_edge(leaf, "source", assigner_id, {}, node))
    conditions = [
        c
        for i, raw in enumerate(config.get("break_conditions", []))
        if (c := _loop_condition(writer, node, raw, i))
    ]
    data = {
        "type": "loop",
        "loop_variables": variables,
        "break_conditions": conditions,
        "logical_operator": config.get("logic", "and"),
        "loop_count": config.get("max_iterations", 10),
        "start_node_id": start_id,
        "width": 800,
        "height": 300,
    }
    return data, [start, *children], edges


def _loop_condition(
    writer: NodeWriter, node: dict[str, Any], raw: dict[str, Any], index: int
) -> dict[str, Any] | None:
    inputs = {raw.get("input", ""): [node["id"], raw.get("input", "")]}
    return writer._condition(raw, inputs, node["id"], f"break.{index}")


def _conversation(graph: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for variable in graph.get("conversation_variables", []):
        kind = variable.get("type", "string")
        out.append({
            "id": stable_id("conversation", variable["name"]),
            "name": variable["name"],
            "value_type": "string" if kind in ("any", "integer") else kind,
            "value": variable.get("default"),
            "description": variable.get("description", ""),
            "selector": ["conversation", variable["name"]],
        })  # fmt: skip
    return out


def write_dify(
    *, bot: dict[str, Any], graph: dict[str, Any]
) -> tuple[dict[str, Any], ImportReport]:
    """The Dify export of a bot's graph and the report of what does not carry over."""
    report = ImportReport(source="snapagent", source_version=DIFY_VERSION)
    writer = NodeWriter(graph, report)
    nodes, edges = _dify_level(writer, graph, None)
    for note in graph.get("notes") or []:
        if isinstance(note, dict):
            nodes.append({
                "id": str(note.get("id") or stable_id("note", str(note.get("text")))),
                "type": "custom-note",
                "position": note.get("position") or {"x": 0, "y": 0},
                "width": note.get("width", 240), "height": note.get("height", 88),
                "data": {"type": "", "title": "", "desc": "", "showAuthor": True,
                         "text": _lexical(str(note.get("text", ""))),
                         "theme": note.get("theme", "blue"), "author": note.get("author", ""),
                         "width": note.get("width", 240), "height": note.get("height", 88)},
            })  # fmt: skip
    mode = "advanced-chat" if writer.chat else "workflow"
    report.app_mode = mode
    viewport = (
        graph.get("viewport")
        if isinstance(graph.get("viewport"), dict)
        else {"x": 0, "y": 0, "zoom": 1}
    )
    document = {
        "app": {"name": bot.get("name", "SnapAgent bot"),
                "description": bot.get("description", ""), "mode": mode, "icon": "🤖",
                "icon_background": "#FFEAD5", "use_icon_as_answer_icon": False},
        "dependencies": [],
        "kind": "app",
        "version": DIFY_VERSION,
        "workflow": {
            "conversation_variables": _conversation(graph),
            "environment_variables": [],
            "features": dict(_FEATURES),
            "graph": {"edges": edges, "nodes": nodes, "viewport": viewport},
        },
    }  # fmt: skip
    return document, report
