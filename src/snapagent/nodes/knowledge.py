"""`KnowledgeNodeV2`: ``query`` -> ``documents`` through the `Retriever` service.

    {"id": "kb", "type": "knowledge",
     "config": {"knowledge_base_ids": ["kb-1"], "top_k": 4, "score_threshold": 0.2,
                "mode": "hybrid"},
     "inputs": {"query": {"selector": ["start", "query"]}}}

Documents are stored in the pool as a list of dicts (`RetrievedDocument.to_dict()`). The query
carries the run's owner (``sys.owner_id``): only that account's knowledge bases are searched.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from snapagent.errors import NodeExecutionError
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.services import RetrievalMode, RetrievalQuery
from snapagent.workflow.types import PortType

__all__ = ["KnowledgeNodeData", "KnowledgeNodeV2"]


class KnowledgeNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    knowledge_base_ids: list[str] = Field(
        min_length=1, description="The knowledge bases to search (ids; the bot owner's only)."
    )
    top_k: int = Field(default=4, ge=1, le=100, description="How many chunks to return.")
    score_threshold: float | None = Field(
        default=None, ge=0.0, description="Leave out chunks scoring below this (none: keep all)."
    )
    mode: RetrievalMode = Field(
        default="hybrid",
        description="hybrid (keywords + vectors), vector (meaning only) or keyword (BM25 only).",
    )


class KnowledgeNodeV2(BaseNodeV2[KnowledgeNodeData]):
    """Retrieves the chunks of its knowledge bases most relevant to ``query``."""

    type_key = "knowledge"
    config_model = KnowledgeNodeData
    title = "Knowledge retrieval"
    category = "knowledge"
    description = "Retrieve relevant chunks from knowledge bases."

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            inputs=(PortDefinition(name="query", type=PortType.STRING),),
            outputs=(PortDefinition(name="documents", type=PortType.DOCUMENTS),),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        query = inputs["query"]
        if not isinstance(query, str):
            raise NodeExecutionError(
                f"node {self.node_id!r}: query must be text, got {type(query).__name__}",
                node_id=self.node_id,
            )
        config = self.config
        found = await ctx.services.retriever.retrieve(
            RetrievalQuery(
                query=query,
                knowledge_base_ids=tuple(config.knowledge_base_ids),
                top_k=config.top_k,
                score_threshold=config.score_threshold,
                mode=config.mode,
                owner_id=ctx.owner_id,
            )
        )
        return {"documents": [doc.to_dict() for doc in found[: config.top_k]]}
