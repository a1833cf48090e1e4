"""A Dify workflow graph (``workflow.graph``: nodes, edges, notes, viewport) -> our graph.

Steps: index every node (bodies of iterations and loops included, notes set aside), decide
where start variables live, convert node by node - a container after its body, so the body's
writes to loop variables are known - then map the edges of each level: Dify edges are all
control edges whose ``sourceHandle`` names a branch (an if-else case, a classifier class,
``fail-branch``); values travel by selector, as here. Chat apps get an end node after every
last node (Dify's chatflows have none: their answer nodes speak).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from snapagent.interop.dify.building import Built, finish_node, port_type, position_of
from snapagent.interop.dify.context import RESERVED_IDS, DifyContext, DifyNode
from snapagent.interop.dify.nodes_data import (
    convert_aggregator,
    convert_assigner,
    convert_code,
    convert_document_extractor,
    convert_list_operator,
    convert_template,
)
from snapagent.interop.dify.nodes_flow import convert_if_else, convert_iteration, convert_loop
from snapagent.interop.dify.nodes_io import (
    TRIGGER_TYPES,
    convert_answer,
    convert_end,
    convert_start,
    setup_start,
)
from snapagent.interop.dify.nodes_model import (
    convert_knowledge,
    convert_llm,
    convert_parameter_extractor,
    convert_question_classifier,
)
from snapagent.interop.dify.nodes_tools import (
    convert_agent,
    convert_http,
    convert_tool,
    placeholder,
)
from snapagent.interop.dify.references import REFERENCE
from snapagent.interop.names import unique_identifiers
from snapagent.interop.shapes import mapping

__all__ = ["convert_workflow_graph"]

Converter = Callable[[DifyNode, DifyContext], Built]

_CONVERTERS: dict[str, Converter] = {
    "start": convert_start,
    "end": convert_end,
    "answer": convert_answer,
    "llm": convert_llm,
    "knowledge-retrieval": convert_knowledge,
    "question-classifier": convert_question_classifier,
    "parameter-extractor": convert_parameter_extractor,
    "template-transform": convert_template,
    "code": convert_code,
    "if-else": convert_if_else,
    "variable-aggregator": convert_aggregator,
    "variable-assigner": convert_aggregator,  # the aggregator's name before DSL 0.1.2
    "assigner": convert_assigner,
    "document-extractor": convert_document_extractor,
    "list-operator": convert_list_operator,
    "http-request": convert_http,
    "tool": convert_tool,
    "agent": convert_agent,
}
_CONTAINERS = frozenset({"iteration", "loop"})
_STRUCTURAL = frozenset({"iteration-start", "loop-start"})
_CHAT_MODES = frozenset({"advanced-chat", "chat", "agent-chat"})
_EXPLAINED = {
    "human-input": "a human-input node pauses the run for a person to fill a form; SnapAgent "
    "runs have no pause",
    "datasource": "a datasource node belongs to a Dify knowledge pipeline, not an app",
    "knowledge-index": "a knowledge-index node belongs to a Dify knowledge pipeline, not an app",
}


class _Assembler:
    def __init__(self, ctx: DifyContext, graph: dict[str, Any]) -> None:
        self.ctx = ctx
        raw_nodes = graph.get("nodes")
        raw_edges = graph.get("edges")
        self.raw_nodes = (
            [n for n in raw_nodes if isinstance(n, dict)] if isinstance(raw_nodes, list) else []
        )
        self.raw_edges = (
            [e for e in raw_edges if isinstance(e, dict)] if isinstance(raw_edges, list) else []
        )
        self.notes: list[dict[str, Any]] = []
        self.start: DifyNode | None = None
        self.triggers: list[DifyNode] = []

    # -- indexing ---------------------------------------------------------------------------

    def index(self) -> None:
        ctx = self.ctx
        used: set[str] = set()
        for position, raw in enumerate(self.raw_nodes):
            data = mapping(raw.get("data"))
            kind = str(data.get("type") or "")
            if raw.get("type") == "custom-note" or kind in ("", "note"):
                self.notes.append(raw)
                continue
            dify_id = str(raw.get("id") or f"node_{position}")
            if dify_id in ctx.nodes:
                ctx.note(
                    "warning",
                    f"node id {dify_id!r} appears twice",
                    "the second node was left out",
                    node_id=dify_id,
                )
                continue
            ours = dify_id if dify_id not in RESERVED_IDS else f"node_{dify_id}"
            while ours in used:
                ours = f"{ours}_{position}"
            used.add(ours)
            parent = raw.get("parentId") or data.get("iteration_id") or data.get("loop_id")
            ctx.nodes[dify_id] = DifyNode(
                ours, dify_id, kind, data, raw, str(parent) if parent else None
            )
        for node in ctx.nodes.values():
            container = ctx.nodes.get(node.parent or "")
            if node.parent is not None and (container is None or container.type not in _CONTAINERS):
                node.parent = None
        for node in ctx.nodes.values():
            if node.type == "start" and node.parent is None and self.start is None:
                self.start = node
            elif node.type in TRIGGER_TYPES and node.parent is None:
                self.triggers.append(node)
        self._referenced()

    def _referenced(self) -> None:
        """Which outputs of each node other nodes read (placeholders declare them)."""
        found = self.ctx.referenced_outputs
        ids = self.ctx.nodes

        def walk(value: Any, depth: int) -> None:
            if depth > 40:
                return
            if isinstance(value, str):
                for match in REFERENCE.finditer(value):
                    parts = match.group(1).split(".")
                    if len(parts) >= 2 and parts[0] in ids:
                        found.setdefault(parts[0], set()).add(parts[1])
            elif isinstance(value, list):
                if (
                    len(value) >= 2
                    and all(isinstance(v, str) for v in value[:2])
                    and value[0] in ids
                ):
                    found.setdefault(value[0], set()).add(value[1])
                for item in value:
                    walk(item, depth + 1)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item, depth + 1)

        for node in self.ctx.nodes.values():
            walk(node.data, 0)

    # -- the start --------------------------------------------------------------------------

    def setup(self) -> None:
        ctx = self.ctx
        primary = self.start or (self.triggers[0] if self.triggers else None)
        ctx.start_id = primary.id if primary is not None else "start"
        setup_start(ctx, self.start, self.triggers)
        for trigger in self.triggers:
            ctx.edge_ends[trigger.source_id] = ([ctx.start_id], [ctx.start_id])
            ctx.note(
                "warning",
                f"{trigger.type}: SnapAgent runs a workflow from a chat or an API call; the "
                "trigger's webhook, schedule or plugin subscription is not carried over",
                "the trigger became the start node (its values are start inputs)",
                node_id=trigger.id,
            )

    # -- nodes ------------------------------------------------------------------------------

    def convert(self, node: DifyNode) -> Built:
        ctx = self.ctx
        if node.type in _CONTAINERS:
            body = self.level(node.source_id)
            if node.type == "iteration":
                return convert_iteration(node, ctx, body)
            return convert_loop(node, ctx, body)
        if node.type in TRIGGER_TYPES:
            return convert_start(node, ctx)
        converter = _CONVERTERS.get(node.type)
        if converter is not None:
            return converter(node, ctx)
        message = _EXPLAINED.get(
            node.type, f"Dify node type {node.type!r} has no SnapAgent equivalent"
        )
        branches = None
        if node.type == "human-input":
            actions = node.data.get("user_actions") or []
            names = [str(a.get("id")) for a in actions if isinstance(a, dict) and a.get("id")]
            branches = list(unique_identifiers(names, taken=("fail",)).values()) or None
        return placeholder(node, ctx, message, branches=branches)

    def level(self, parent: str | None) -> dict[str, Any]:
        """The nodes and edges of the top level (None) or of a container's body."""
        ctx = self.ctx
        members = [n for n in ctx.nodes.values() if n.parent == parent]
        out: list[dict[str, Any]] = []
        inner: list[dict[str, Any]] = []
        for node in members:
            if node.type in _STRUCTURAL:
                continue
            if node.type == "loop-end":
                ctx.note(
                    "warning",
                    "a loop-end node (stop the loop when reached) has no equivalent",
                    "left out: the loop stops by its break conditions or its round limit",
                    node_id=node.id,
                )
                continue
            if node.type in TRIGGER_TYPES and node.id != ctx.start_id:
                continue  # merged into the start node
            built = self.convert(node)
            ctx.handles[node.source_id] = built.handles
            out += finish_node(node, built, ctx)
            inner += built.edges
        graph: dict[str, Any] = {"nodes": out, "edges": [*inner, *self.edges(members)]}
        return graph

    # -- edges ------------------------------------------------------------------------------

    def edges(self, members: list[DifyNode]) -> Iterator[dict[str, Any]]:
        ctx = self.ctx
        here = {n.source_id for n in members}
        seen: set[tuple[str, str | None, str]] = set()
        for raw in self.raw_edges:
            source, target = str(raw.get("source", "")), str(raw.get("target", ""))
            if source not in here and target not in here:
                continue
            if source not in here or target not in here:
                if source in ctx.nodes and target in ctx.nodes and source in here:
                    ctx.note(
                        "warning",
                        f"an edge {source} -> {target} crosses into or out of a loop/iteration",
                        "left out",
                        field="edges",
                    )
                continue
            s_node, t_node = ctx.nodes[source], ctx.nodes[target]
            if {s_node.type, t_node.type} & {*_STRUCTURAL, "loop-end"}:
                continue
            port = self._port(s_node, str(raw.get("sourceHandle") or "source"))
            if port is False:
                continue
            sources = ctx.edge_ends.get(source, ([s_node.id], [s_node.id]))[1]
            targets = ctx.edge_ends.get(target, ([t_node.id], [t_node.id]))[0]
            for s in sources:
                for t in targets:
                    key = (s, port if isinstance(port, str) else None, t)
                    if key in seen or s == t:
                        continue
                    seen.add(key)
                    edge: dict[str, Any] = {"source": s, "target": t}
                    if isinstance(port, str):
                        edge["source_port"] = port
                    yield edge

    def _port(self, node: DifyNode, handle: str) -> str | bool | None:
        """Our branch port for an edge handle; None: a plain control edge; False: no edge."""
        handles = self.ctx.handles.get(node.source_id, {})
        if handle in handles:
            return handles[handle]
        if handle in ("source", "success-branch"):
            return None
        self.ctx.note(
            "warning",
            f"an edge leaves node {node.id!r} from {handle!r}, which it does not have here",
            "the edge was left out",
            node_id=node.id,
            field="edges",
        )
        return False


def _note_text(raw: Any) -> str:
    """The plain text of a Dify note (its text is the rich editor's JSON)."""
    if not isinstance(raw, str):
        return ""
    try:
        tree = json.loads(raw)
    except ValueError:
        return raw
    lines: list[str] = []

    def walk(node: Any, depth: int) -> str:
        if depth > 50 or not isinstance(node, dict):
            return ""
        if isinstance(node.get("text"), str):
            return str(node["text"])
        return "".join(walk(child, depth + 1) for child in node.get("children") or [])

    root = tree.get("root") if isinstance(tree, dict) else None
    for block in (root or {}).get("children") or []:
        lines.append(walk(block, 0))
    return "\n".join(lines)


def _notes(raw_notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    notes = []
    for raw in raw_notes:
        data = mapping(raw.get("data"))
        note: dict[str, Any] = {"id": str(raw.get("id", "")), "text": _note_text(data.get("text"))}
        position = position_of(raw)
        if position is not None:
            note["position"] = position
        for key in ("width", "height", "theme", "author"):
            if data.get(key) not in (None, ""):
                note[key] = data[key]
        notes.append(note)
    return notes


def _conversation_variables(ctx: DifyContext, raw: Any) -> list[dict[str, Any]]:
    items = [v for v in raw if isinstance(v, dict)] if isinstance(raw, list) else []
    names = unique_identifiers([str(v.get("name", "")) for v in items], fallback="variable")
    out: list[dict[str, Any]] = []
    for variable in items[:100]:
        dify_name = str(variable.get("name", ""))
        name = names[dify_name]
        kind = str(variable.get("value_type") or "string")
        ours = port_type(kind)
        if ours == "any" and kind not in ("any", ""):
            ctx.note(
                "warning",
                f"conversation variable {dify_name!r} has type {kind!r}, which has no equivalent",
                "declared as any",
                field=f"conversation_variables.{dify_name}",
            )
        ctx.conversation_names[dify_name] = name
        ctx.conversation_types[name] = ours
        entry: dict[str, Any] = {"name": name, "type": ours, "default": variable.get("value")}
        if ours == "string" and entry["default"] is None:
            entry["default"] = ""
        description = variable.get("description")
        if isinstance(description, str) and description:
            entry["description"] = description[:2000]
        out.append(entry)
    if len(items) > 100:
        ctx.note(
            "warning",
            f"{len(items)} conversation variables; at most 100 are kept",
            "the rest were left out",
            field="conversation_variables",
        )
    return out


def _end_node(ctx: DifyContext, graph: dict[str, Any]) -> None:
    """A chat app's end node after every last node (its answer is what the answers said)."""
    nodes = graph["nodes"]
    if any(n["type"] == "end" for n in nodes):
        return
    ids = {n["id"] for n in nodes}
    end_id = "end"
    number = 1
    while end_id in ids:
        end_id, number = f"end_{number}", number + 1
    sources = {e["source"] for e in graph["edges"]}
    leaves = [n["id"] for n in nodes if n["id"] not in sources and n["type"] != "start"]
    xs = [n["position"]["x"] for n in nodes if "position" in n]
    ys = [n["position"]["y"] for n in nodes if "position" in n]
    end: dict[str, Any] = {"id": end_id, "type": "end", "title": "End", "config": {"outputs": []}}
    if xs:
        end["position"] = {"x": max(xs) + 320, "y": min(ys)}
    nodes.append(end)
    graph["edges"] += [{"source": leaf, "target": end_id} for leaf in leaves or [ctx.start_id]]
    if ctx.mode in _CHAT_MODES:
        ctx.note(
            "info",
            "a chatflow has no end node; its answer nodes speak",
            f"an end node {end_id!r} follows the last nodes; the chat answer is what the "
            "answer nodes said",
        )
    else:
        ctx.note(
            "warning",
            "the workflow has no end node",
            f"an end node {end_id!r} with no outputs follows the last nodes",
        )


def convert_workflow_graph(ctx: DifyContext, workflow: dict[str, Any]) -> dict[str, Any]:
    """Our graph JSON for a Dify ``workflow`` section (environment and conversation variables
    included)."""
    raw_graph = mapping(workflow.get("graph"))
    environment = workflow.get("environment_variables")
    ctx.environment = (
        [e for e in environment if isinstance(e, dict)] if isinstance(environment, list) else []
    )
    conversation = _conversation_variables(ctx, workflow.get("conversation_variables"))
    assembler = _Assembler(ctx, raw_graph)
    assembler.index()
    assembler.setup()
    graph = assembler.level(None)
    if assembler.start is None and not assembler.triggers:
        ctx.note(
            "action",
            "the workflow has no start node",
            "a start node was added, connected to the nodes nothing leads to",
        )
        targets = {e["target"] for e in graph["edges"]}
        roots = [n["id"] for n in graph["nodes"] if n["id"] not in targets]
        graph["nodes"].insert(
            0, {"id": ctx.start_id, "type": "start", "title": "Start", "config": {}}
        )
        graph["edges"] += [{"source": ctx.start_id, "target": r} for r in roots]
    _end_node(ctx, graph)
    if conversation:
        graph["conversation_variables"] = conversation
    notes = _notes(assembler.notes)
    if notes:
        graph["notes"] = notes
    viewport = raw_graph.get("viewport")
    if isinstance(viewport, dict):
        graph["viewport"] = {k: v for k, v in viewport.items() if isinstance(v, int | float)}
    return graph
