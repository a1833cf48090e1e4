"""The legacy (V1) workflow format: nodes with `id`, `type`, `data`; edges `source`, `target`.

V1 graphs have no ports: every node reads and writes one implicit context (``query``,
``context``, ``response``). These models hold a graph exactly as ARCHITECTURE.md shows it and
as it is stored on ``bots.workflow``.

    >>> wf = V1Workflow.model_validate(
    ...     {"nodes": [{"id": "n1", "type": "start"}, {"id": "n2", "type": "end"}],
    ...      "edges": [{"source": "n1", "target": "n2"}]})
    >>> [n.type for n in wf.nodes]
    ['start', 'end']

Node-level keys other than ``id``/``type``/``data`` (editor metadata such as ``position``) are
kept but never change behaviour. Keys inside ``data`` do configure behaviour, so an unknown one
is a validation problem rather than something silently dropped.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "V1_DEFAULT_TOP_K",
    "V1_NODE_TYPES",
    "V1EdgeModel",
    "V1EmptyData",
    "V1KnowledgeData",
    "V1LLMData",
    "V1NodeModel",
    "V1NodeType",
    "V1Workflow",
    "data_model_for",
]

V1NodeType = Literal["start", "knowledge", "llm", "end"]
V1_NODE_TYPES: Final[tuple[str, ...]] = ("start", "knowledge", "llm", "end")
# What the legacy engine retrieved when a knowledge node gave no top_k.
V1_DEFAULT_TOP_K: Final = 4


class V1EmptyData(BaseModel):
    """``data`` of a ``start`` or ``end`` node: nothing to configure."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class V1KnowledgeData(BaseModel):
    """``data`` of a ``knowledge`` node: which knowledge bases to search and how many chunks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    knowledge_base_ids: list[str] = Field(default_factory=list)
    top_k: int = Field(default=V1_DEFAULT_TOP_K, ge=1, le=100)
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class V1LLMData(BaseModel):
    """``data`` of an ``llm`` node: the model call settings (no prompt template in V1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = None
    system_prompt: str | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1)


_DATA_MODELS: Final[dict[str, type[BaseModel]]] = {
    "start": V1EmptyData,
    "knowledge": V1KnowledgeData,
    "llm": V1LLMData,
    "end": V1EmptyData,
}


def data_model_for(node_type: str) -> type[BaseModel] | None:
    """The pydantic model of a V1 node type's ``data``; None for an unknown type."""
    return _DATA_MODELS.get(node_type)


class V1NodeModel(BaseModel):
    """One V1 node. ``type`` is kept as a string so unknown types can be reported by name."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1)
    data: dict[str, Any] = Field(default_factory=dict)


class V1EdgeModel(BaseModel):
    """One V1 edge: an ordering from ``source`` to ``target``; it carries no value."""

    model_config = ConfigDict(extra="allow")

    source: str
    target: str


class V1Workflow(BaseModel):
    """A whole V1 graph as stored on ``bots.workflow``. Use :func:`load_v1_workflow` to get a
    validated one; constructing this model checks only the shape."""

    model_config = ConfigDict(extra="allow")

    nodes: list[V1NodeModel]
    edges: list[V1EdgeModel] = Field(default_factory=list)

    def node(self, node_id: str) -> V1NodeModel:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def to_json(self) -> dict[str, Any]:
        """The stored JSON (unset optional keys stay absent, so a round trip is exact)."""
        return self.model_dump(mode="json", exclude_unset=True)
