"""What reading an export gives: the bot's settings, its graph, the knowledge bases it needs
and the report. Plain data, so it crosses from the parsing worker to the server.

Knowledge nodes of a converted graph name *tokens* (``dify-dataset:<id>``,
``snapagent-kb:<id>``) until the importing service resolves each `KnowledgeNeed` to a
knowledge base of the importing account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from snapagent.interop.report import ImportReport

__all__ = ["ConvertedBot", "KnowledgeNeed"]


@dataclass(slots=True)
class KnowledgeNeed:
    """A knowledge base a converted graph needs, named in its nodes by ``token``."""

    token: str
    name: str
    description: str = ""
    embedding_model: str | None = None
    source_id: str = ""
    """Its id where it came from (a Dify dataset id, a SnapAgent knowledge base id)."""
    reuse_id: str | None = None
    """A SnapAgent export's own id: used as it is when the importer owns that knowledge base."""


@dataclass(slots=True)
class ConvertedBot:
    """A bot ready to be created from an export."""

    name: str
    graph: dict[str, Any]
    report: ImportReport
    description: str = ""
    default_model: str | None = None
    knowledge: list[KnowledgeNeed] = field(default_factory=list)
    knowledge_base_ids: list[str] = field(default_factory=list)
    """The bot's own knowledge bases (tokens, like the graph's)."""
    use_workflow_v2: bool = True
    v2_rollout_percent: int = 100
    legacy_workflow: dict[str, Any] | None = None
    """A SnapAgent export's V1 workflow (``bots.workflow``), when the bot had one."""
    keep_models: bool = False
    """True for SnapAgent exports: model ids stay as they are even when this server cannot
    use them (reported); a Dify import falls back to the bot's default model instead."""
