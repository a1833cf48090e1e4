"""`KnowledgeTool`: retrieval as a tool. The model writes the query; the search covers only
the run owner's knowledge bases (``sys.owner_id`` travels with every `RetrievalQuery`, and the
retriever filters on it), exactly like the knowledge node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snapagent.nodes.agent_tools.base import AgentTool, ToolError, ToolOutcome
from snapagent.nodes.agent_tools.config import KnowledgeToolConfig
from snapagent.workflow.node import RunContext
from snapagent.workflow.services import RetrievalQuery, ToolSpec

__all__ = ["KnowledgeTool"]

QUERY_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What to search for, in a few words."}
    },
    "required": ["query"],
}


class KnowledgeTool(AgentTool):
    """Searches the configured knowledge bases of the run's owner."""

    kind = "knowledge"

    def __init__(self, config: KnowledgeToolConfig, ctx: RunContext, timeout_s: float) -> None:
        super().__init__(ToolSpec(config.name, config.description, QUERY_SCHEMA), timeout_s)
        self.config = config
        self.ctx = ctx

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("argument 'query' must be a non-empty text")
        config = self.config
        found = await self.ctx.services.retriever.retrieve(
            RetrievalQuery(
                query=query[:2_000],
                knowledge_base_ids=tuple(config.knowledge_base_ids),
                top_k=config.top_k,
                score_threshold=config.score_threshold,
                mode=config.mode,
                owner_id=self.ctx.owner_id,
            )
        )
        documents = [doc.to_dict() for doc in found[: config.top_k]]
        if not documents:
            return ToolOutcome("No relevant passages were found.")
        passages = []
        for number, doc in enumerate(documents, start=1):
            title = doc.get("document_title") or doc.get("document_id") or "untitled"
            heading = f" - {doc['heading']}" if doc.get("heading") else ""
            passages.append(f"[{number}] {title}{heading}\n{doc.get('text', '')}")
        return ToolOutcome("\n\n".join(passages), documents=tuple(documents))
