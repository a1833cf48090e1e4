"""From the bytes of an uploaded file to a `ConvertedBot`: load safely, detect the format,
read it, apply the model override. Pure CPU work on untrusted input - the server runs it in an
isolated worker (`DocumentConverter`), never on the event loop.

    bot = convert_document(data, ImportOptions(format="auto", model_override="offline"))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from snapagent.interop.converted import ConvertedBot
from snapagent.interop.dify.context import ConvertOptions
from snapagent.interop.dify.reader import looks_like_dify, read_dify
from snapagent.interop.errors import ImportFormatError
from snapagent.interop.loading import DocumentLimits, load_document
from snapagent.interop.native import looks_like_native, read_native
from snapagent.interop.shapes import mapping
from snapagent.workflow.limits import GraphLimits, check_graph_size

__all__ = ["ImportFormat", "ImportOptions", "convert_document", "detect_format", "override_models"]

ImportFormat = Literal["auto", "dify", "snapagent"]
MODEL_NODE_TYPES = frozenset({"llm", "question_classifier", "parameter_extractor", "agent"})


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """How to read a file: its format (``auto`` detects it), a model id replacing every model
    of the app, the node types the server has, and the document limits."""

    format: ImportFormat = "auto"
    model_override: str | None = None
    node_types: frozenset[str] = frozenset()
    limits: DocumentLimits = field(default_factory=DocumentLimits)
    graph_limits: GraphLimits = field(default_factory=GraphLimits)
    """The server's graph size limits: a file over them is refused before it is converted."""


def detect_format(document: dict[str, Any], wanted: ImportFormat) -> Literal["dify", "snapagent"]:
    """The file's format; `ImportFormatError` when it is neither (or not the one asked for)."""
    native, dify = looks_like_native(document), looks_like_dify(document)
    if wanted == "snapagent" and not native:
        raise ImportFormatError("this is not a SnapAgent export (no 'kind: snapagent-bot')")
    if wanted == "dify" and not dify:
        raise ImportFormatError("this is not a Dify app export (no 'app' with a 'mode')")
    if native:
        return "snapagent"
    if dify:
        return "dify"
    keys = ", ".join(sorted(str(k) for k in list(document)[:10])) or "none"
    raise ImportFormatError(
        "this is neither a Dify app export (kind: app, app.mode, workflow.graph) nor a "
        f"SnapAgent export (kind: snapagent-bot); its top-level keys: {keys}"
    )


def override_models(value: Any, model: str, _depth: int = 0) -> Any:
    """A copy of a graph where every model-calling node (bodies included) uses ``model``."""
    if _depth > 40:
        return value
    if isinstance(value, dict):
        out = {k: override_models(v, model, _depth + 1) for k, v in value.items()}
        config = out.get("config")
        if out.get("type") in MODEL_NODE_TYPES and isinstance(config, dict):
            out["config"] = {**config, "model": model}
        return out
    if isinstance(value, list):
        return [override_models(item, model, _depth + 1) for item in value]
    return value


def _check_size(document: dict[str, Any], kind: str, limits: GraphLimits) -> None:
    workflow = mapping(document.get("workflow"))
    graph = mapping(workflow.get("graph"))
    if kind == "snapagent":
        too_big = check_graph_size(graph, limits)
        if too_big:
            raise ImportFormatError(f"the workflow is too large: {too_big[0].message}")
        return
    nodes, edges = graph.get("nodes"), graph.get("edges")
    for name, items, limit in (
        ("nodes", nodes, limits.max_nodes),
        ("edges", edges, limits.max_edges),
    ):
        if isinstance(items, list) and len(items) > limit:
            raise ImportFormatError(
                f"the app has {len(items):,} {name}; this server takes at most {limit:,} "
                f"(SNAPAGENT_GRAPH_MAX_{name.upper()})"
            )


def convert_document(data: bytes, options: ImportOptions) -> ConvertedBot:
    """The bot a file describes (see the module docstring)."""
    document = load_document(data, options.limits)
    kind = detect_format(document, options.format)
    _check_size(document, kind, options.graph_limits)
    if kind == "snapagent":
        bot = read_native(document)
        if options.model_override:
            bot.graph = override_models(bot.graph, options.model_override)
            bot.default_model = options.model_override
            bot.report.add(
                "info",
                "every model of the bot was replaced as asked",
                f"model {options.model_override}",
                field="model_override",
            )
        return bot
    convert_options = ConvertOptions(
        model_override=options.model_override, node_types=options.node_types
    )
    return read_dify(document, convert_options)
