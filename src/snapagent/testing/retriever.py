"""`InMemoryRetriever`: a `Retriever` over documents added in code, scored lexically.

    retriever = InMemoryRetriever()
    retriever.add("kb1", "SnapAgent runs workflow graphs.", title="Intro", owner_id="u1")
    docs = await retriever.retrieve(
        RetrievalQuery("what runs graphs?", ["kb1"], top_k=2, owner_id="u1")
    )

Score = the fraction of distinct query terms found in the chunk (0..1). ``mode`` is recorded
but every mode scores the same way. Every query is kept in ``queries``. Like the real retriever,
a query finds only knowledge bases of its ``owner_id``; a knowledge base added without an owner
answers every owner (for engine tests that do not care about accounts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from snapagent.workflow.services import RetrievalQuery, RetrievedDocument

__all__ = ["InMemoryRetriever"]

_TERM = re.compile(r"\w+")


def _terms(text: str) -> set[str]:
    return {t.lower() for t in _TERM.findall(text)}


class InMemoryRetriever:
    """Lexical retrieval over in-memory chunks; honours kb ids, document ids, top_k, threshold."""

    def __init__(self) -> None:
        self._docs: list[tuple[RetrievedDocument, set[str]]] = []
        self._owners: dict[str, str] = {}
        self.queries: list[RetrievalQuery] = []

    def add(
        self,
        knowledge_base_id: str,
        text: str,
        *,
        title: str = "",
        document_id: str | None = None,
        heading: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        owner_id: str | None = None,
    ) -> RetrievedDocument:
        if owner_id is not None:
            self._owners[knowledge_base_id] = owner_id
        number = len(self._docs)
        doc = RetrievedDocument(
            text=text,
            score=0.0,
            document_id=document_id or f"doc-{number}",
            document_title=title or f"Document {number}",
            knowledge_base_id=knowledge_base_id,
            chunk_id=f"chunk-{number}",
            chunk_index=number,
            heading=heading,
            metadata=dict(metadata or {}),
        )
        self._docs.append((doc, _terms(f"{title} {heading or ''} {text}")))
        return doc

    def __len__(self) -> int:
        return len(self._docs)

    async def retrieve(self, query: RetrievalQuery) -> list[RetrievedDocument]:
        self.queries.append(query)
        wanted = _terms(query.query)
        if not wanted:
            return []
        kbs = {
            kb
            for kb in query.knowledge_base_ids
            if self._owners.get(kb, query.owner_id) == query.owner_id
        }
        doc_ids = set(query.document_ids) if query.document_ids is not None else None
        scored = []
        for doc, terms in self._docs:
            if doc.knowledge_base_id not in kbs:
                continue
            if doc_ids is not None and doc.document_id not in doc_ids:
                continue
            score = len(wanted & terms) / len(wanted)
            if score <= 0 or (query.score_threshold is not None and score < query.score_threshold):
                continue
            scored.append((score, doc.chunk_index, doc))
        scored.sort(key=lambda item: (-item[0], item[1]))
        return [
            RetrievedDocument(**{**doc.to_dict(), "score": round(score, 6)})
            for score, _index, doc in scored[: query.top_k]
        ]
