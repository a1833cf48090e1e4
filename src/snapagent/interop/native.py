"""SnapAgent's own export format: one bot, losslessly, as YAML.

    kind: snapagent-bot
    format_version: 1
    snapagent_version: 0.1.0
    bot: {name, description, default_model, use_workflow_v2, v2_rollout_percent}
    knowledge_bases: [{id, name, description, embedding_model}]   # what the graph names
    workflow: {version_number, status, note, graph}                # the exported version
    legacy_workflow: {...}                                         # a V1 workflow, if any

The graph is written exactly as stored, so importing an export gives the same graph back. A
knowledge base is a reference, not its documents: on import it is the same knowledge base when
the importer owns it (the same account, or the same server), else one of the importer's with
the same name, else a new empty one (reported). Nothing secret is in a bot, so nothing is
left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib.metadata import version as package_version
from typing import Any

from snapagent.interop.converted import ConvertedBot, KnowledgeNeed
from snapagent.interop.errors import ImportFormatError
from snapagent.interop.report import ImportReport

__all__ = [
    "FORMAT_VERSION",
    "KIND",
    "KNOWLEDGE_TOKEN_PREFIX",
    "knowledge_ids",
    "looks_like_native",
    "map_knowledge_ids",
    "read_native",
    "write_native",
]

KIND = "snapagent-bot"
FORMAT_VERSION = 1
KNOWLEDGE_TOKEN_PREFIX = "snapagent-kb:"
_MAX_DEPTH = 12  # knowledge ids live in node configs, bodies nest at most a few levels


def looks_like_native(document: dict[str, Any]) -> bool:
    return document.get("kind") == KIND


def map_knowledge_ids(value: Any, change: Callable[[str], str], _depth: int = 0) -> Any:
    """A copy of ``value`` with every id in a ``knowledge_base_ids`` list passed through
    ``change`` (nodes, their bodies, V1 node data, agent tools: wherever they are)."""
    if _depth > _MAX_DEPTH * 4:
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "knowledge_base_ids" and isinstance(item, list):
                out[key] = [change(i) if isinstance(i, str) else i for i in item]
            else:
                out[key] = map_knowledge_ids(item, change, _depth + 1)
        return out
    if isinstance(value, list):
        return [map_knowledge_ids(item, change, _depth + 1) for item in value]
    return value


def knowledge_ids(value: Any) -> list[str]:
    """Every knowledge base id ``value`` names, first seen first."""
    found: dict[str, None] = {}

    def note(kb_id: str) -> str:
        found.setdefault(kb_id, None)
        return kb_id

    map_knowledge_ids(value, note)
    return list(found)


def write_native(
    *,
    bot: dict[str, Any],
    graph: dict[str, Any],
    version: dict[str, Any],
    knowledge_bases: Iterable[dict[str, Any]],
    legacy_workflow: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The export document of one bot and one of its workflow versions."""
    document: dict[str, Any] = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "snapagent_version": package_version("snapagent"),
        "bot": {
            "name": bot["name"],
            "description": bot.get("description", ""),
            "default_model": bot.get("default_model"),
            "use_workflow_v2": bot.get("use_workflow_v2", True),
            "v2_rollout_percent": bot.get("v2_rollout_percent", 100),
            "knowledge_base_ids": list(bot.get("knowledge_base_ids") or []),
        },
        "knowledge_bases": [
            {
                "id": kb["id"],
                "name": kb["name"],
                "description": kb.get("description", ""),
                "embedding_model": kb.get("embedding_model"),
            }
            for kb in knowledge_bases
        ],
        "workflow": {**version, "graph": graph},
    }
    if legacy_workflow is not None:
        document["legacy_workflow"] = legacy_workflow
    return document


def _text(value: Any, field: str, *, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImportFormatError(f"{field} must be text")
    return value[:limit]


def read_native(document: dict[str, Any]) -> ConvertedBot:
    """The bot a SnapAgent export describes."""
    found = document.get("format_version")
    if not isinstance(found, int) or isinstance(found, bool):
        raise ImportFormatError("a SnapAgent export needs an integer 'format_version'")
    if found > FORMAT_VERSION:
        raise ImportFormatError(
            f"this SnapAgent export has format version {found}; this server reads up to "
            f"{FORMAT_VERSION}: update SnapAgent"
        )
    bot = document.get("bot")
    workflow = document.get("workflow")
    if not isinstance(bot, dict):
        raise ImportFormatError("a SnapAgent export needs a 'bot' mapping")
    graph = workflow.get("graph") if isinstance(workflow, dict) else None
    if not isinstance(graph, dict):
        raise ImportFormatError("a SnapAgent export needs 'workflow.graph' (the graph)")
    report = ImportReport(
        source="snapagent",
        source_version=str(document.get("snapagent_version") or ""),
        app_mode="workflow",
    )
    described = {
        kb["id"]: kb
        for kb in document.get("knowledge_bases") or []
        if isinstance(kb, dict) and isinstance(kb.get("id"), str)
    }
    legacy = document.get("legacy_workflow")
    legacy = legacy if isinstance(legacy, dict) else None
    needs = []
    bot_ids = [i for i in bot.get("knowledge_base_ids") or [] if isinstance(i, str)]
    for kb_id in knowledge_ids([graph, legacy, {"knowledge_base_ids": bot_ids}]):
        kb = described.get(kb_id, {})
        embedding = kb.get("embedding_model")
        needs.append(
            KnowledgeNeed(
                token=f"{KNOWLEDGE_TOKEN_PREFIX}{kb_id}",
                name=_text(kb.get("name"), "knowledge_bases.name", limit=200)
                or f"knowledge base {kb_id[:8]}",
                description=_text(kb.get("description"), "knowledge_bases.description", limit=2000),
                embedding_model=embedding if isinstance(embedding, str) else None,
                source_id=kb_id,
                reuse_id=kb_id,
            )
        )
    to_token = {need.source_id: need.token for need in needs}
    name = _text(bot.get("name"), "bot.name", limit=200).strip() or "Imported bot"
    default_model = bot.get("default_model")
    rollout = bot.get("v2_rollout_percent", 100)
    return ConvertedBot(
        name=name,
        description=_text(bot.get("description"), "bot.description", limit=10_000),
        default_model=default_model if isinstance(default_model, str) and default_model else None,
        graph=map_knowledge_ids(graph, lambda kb_id: to_token.get(kb_id, kb_id)),
        report=report,
        knowledge=needs,
        knowledge_base_ids=[to_token[i] for i in bot_ids],
        use_workflow_v2=bot.get("use_workflow_v2", True) is not False,
        v2_rollout_percent=rollout if isinstance(rollout, int) and 0 <= rollout <= 100 else 100,
        legacy_workflow=(
            map_knowledge_ids(legacy, lambda kb_id: to_token.get(kb_id, kb_id)) if legacy else None
        ),
        keep_models=True,
    )
