"""Read a Dify app export (DSL 0.1.0 to 0.6.x) into a `ConvertedBot`.

    bot = read_dify(document, ConvertOptions(model_override="offline"))
    bot.graph, bot.report.to_dict()

Versions: a file without ``version`` is 0.1.0 (Dify's own rule). The node shapes of every
version are read by the node converters directly (old and new spellings side by side: a
0.1.0 if-else's top-level conditions, 0.1.x's ``variable-assigner`` aggregator, the assigner's
version 1 and 2 items, iterations with and without an ``iteration-start`` node, 0.3+ loops,
0.4+ per-node error strategies and retries, 0.5/0.6 triggers, human input and plugin
dependencies), so one normalised pass serves them all. A newer version than we know, another
``kind`` (a knowledge pipeline) or another app mode is refused with the reason.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from snapagent.interop.converted import ConvertedBot, KnowledgeNeed
from snapagent.interop.dify.context import ConvertOptions, DifyContext
from snapagent.interop.dify.graph import convert_workflow_graph
from snapagent.interop.dify.model_config import convert_model_config, report_features
from snapagent.interop.errors import ImportFormatError
from snapagent.interop.report import ImportReport
from snapagent.interop.shapes import mapping

__all__ = ["NEWEST_VERSION", "dsl_version", "looks_like_dify", "read_dify"]

NEWEST_VERSION = (0, 6)
"""The newest DSL minor version this importer knows (0.6.x)."""
_VERSION = re.compile(r"^\s*(\d+)\.(\d+)(?:\.(\d+))?")
_WORKFLOW_MODES = frozenset({"workflow", "advanced-chat"})
_CONFIG_MODES = frozenset({"chat", "agent-chat", "completion"})


def looks_like_dify(document: dict[str, Any]) -> bool:
    """Whether a document is shaped like a Dify export (for format auto-detection)."""
    if document.get("kind") in ("app", "rag_pipeline", "rag-pipeline"):
        return True
    app = document.get("app")
    workflow = document.get("workflow")
    return (isinstance(app, dict) and "mode" in app) or (
        isinstance(workflow, dict) and isinstance(workflow.get("graph"), dict)
    )


def dsl_version(document: dict[str, Any]) -> str:
    """The file's DSL version; `ImportFormatError` when it is not one we can read."""
    raw = document.get("version")
    if raw in (None, ""):
        return "0.1.0"
    text = str(raw)
    match = _VERSION.match(text)
    if match is None:
        raise ImportFormatError(f"the DSL version {text!r} is not a version number")
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) > NEWEST_VERSION:
        raise ImportFormatError(
            f"Dify DSL version {text} is newer than this importer knows (0.1.0 to "
            f"{NEWEST_VERSION[0]}.{NEWEST_VERSION[1]}.x): update SnapAgent, or export the app "
            "from a Dify version that writes DSL 0.6 or older"
        )
    return text


def _kind(document: dict[str, Any]) -> None:
    kind = document.get("kind", "app")
    if kind in ("rag_pipeline", "rag-pipeline"):
        raise ImportFormatError(
            "this is a Dify knowledge pipeline, not an app: create a knowledge base and upload "
            "the documents instead"
        )
    if kind not in ("app", None, ""):
        raise ImportFormatError(f"a Dify export of kind {kind!r} is not an app")


def read_dify(document: dict[str, Any], options: ConvertOptions) -> ConvertedBot:
    """The bot a Dify export describes (see the module docstring)."""
    _kind(document)
    version = dsl_version(document)
    app = mapping(document.get("app"))
    mode = str(app.get("mode") or ("workflow" if "workflow" in document else ""))
    report = ImportReport(source="dify", source_version=version, app_mode=mode)
    if document.get("version") in (None, ""):
        report.add("info", "the file has no DSL version", "read as DSL 0.1.0", field="version")
    ctx = DifyContext(report=report, mode=mode, options=options)
    if mode in _WORKFLOW_MODES:
        workflow = document.get("workflow")
        if not isinstance(workflow, dict) or not isinstance(workflow.get("graph"), dict):
            raise ImportFormatError(f"this {mode} app has no workflow graph ('workflow.graph')")
        graph = convert_workflow_graph(ctx, workflow)
        features = workflow.get("features")
        if isinstance(features, dict):
            report_features(features, ctx, "workflow.features")
    elif mode in _CONFIG_MODES:
        model_config = document.get("model_config")
        if not isinstance(model_config, dict):
            raise ImportFormatError(f"this {mode} app has no 'model_config'")
        graph = convert_model_config(ctx, model_config)
    else:
        known = ", ".join(sorted(_WORKFLOW_MODES | _CONFIG_MODES))
        raise ImportFormatError(f"Dify app mode {mode or '(none)'!r} cannot be imported ({known})")
    _dependencies(document, ctx)
    name = str(app.get("name") or "Imported Dify app").strip()[:200] or "Imported Dify app"
    if app.get("icon"):
        report.add("info", "the app's icon is not carried over", "no icon", field="app.icon")
    knowledge = [
        KnowledgeNeed(
            token=token,
            name=f"{name}: dataset {dataset_id[:8]}",
            description=f"Created by importing Dify app {name!r}, for its dataset {dataset_id}.",
            source_id=dataset_id,
        )
        for dataset_id, token in ctx.datasets.items()
    ]
    if knowledge:
        report.add(
            "action",
            f"{len(knowledge)} Dify dataset(s) cannot carry over: their documents are not in "
            "the export",
            "each became a new, empty knowledge base of yours: upload its documents (or pick "
            "other knowledge bases in the knowledge nodes)",
            field="dataset_ids",
        )
    default_model = options.model_override
    if default_model is None and ctx.models_seen:
        default_model = Counter(ctx.models_seen).most_common(1)[0][0]
    return ConvertedBot(
        name=name,
        description=str(app.get("description") or "")[:10_000],
        default_model=default_model,
        graph=graph,
        report=report,
        knowledge=knowledge,
    )


def _dependencies(document: dict[str, Any], ctx: DifyContext) -> None:
    dependencies = document.get("dependencies")
    if not isinstance(dependencies, list) or not dependencies:
        return
    names = []
    for item in dependencies:
        value = item.get("value") if isinstance(item, dict) else None
        identifier = (
            value.get("marketplace_plugin_unique_identifier") if isinstance(value, dict) else None
        )
        identifier = identifier or (
            value.get("plugin_unique_identifier") if isinstance(value, dict) else None
        )
        if isinstance(identifier, str):
            names.append(identifier.split(":", 1)[0])
    if names:
        ctx.note(
            "info",
            f"Dify plugins the app depends on: {', '.join(sorted(set(names)))}",
            "plugins are not installed here; their models and tools are mapped node by node",
            field="dependencies",
        )
