"""`KnowledgeRetriever`: hybrid (BM25 + vector) retrieval over knowledge bases.

It implements the engine's `Retriever` interface, so `KnowledgeNodeV2` reaches it through the
`ServiceContainer`. Per knowledge base: keyword hits from an in-memory BM25 index over
character bigrams, vector hits from an in-memory float32 matrix (SQLite) or pgvector HNSW
(PostgreSQL), fused with `snapagent.knowledge.fusion.fuse` (weighted by default; the vector
weight shrinks for queries in languages the KB's embedding model does not cover). Then an
optional reranker, ``score_threshold`` and ``top_k``.

Every query is scoped to ``query.owner_id`` in the database query itself (the knowledge bases
are read with ``owner_id = :owner``, and the pgvector search repeats the check), so a
knowledge base id of another account contributes nothing, whoever built the query.

    retriever = KnowledgeRetriever(db, resolve_embedding_model)
    worker.add_listener(retriever.on_change)       # keep in-memory indexes current
    docs = await retriever.retrieve(RetrievalQuery("연차는 며칠?", [kb.id], owner_id=user.id))
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.db.session import Database
from snapagent.errors import InputValidationError, SnapAgentError
from snapagent.knowledge.fusion import FusionConfig, RerankCandidate, Reranker, fuse
from snapagent.knowledge.index_cache import IndexCache, KnowledgeBaseIndex
from snapagent.knowledge.pg_search import pg_vector_search
from snapagent.knowledge.records import EmbeddingResolver, IndexChange
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.workflow.services import RetrievalQuery, RetrievedDocument

__all__ = ["MAX_TOP_K", "KnowledgeBaseRows", "KnowledgeRetriever", "model_languages"]

log = logging.getLogger(__name__)

MAX_TOP_K = 100
_MODES = ("hybrid", "vector", "keyword")


@dataclass(frozen=True, slots=True)
class _KBRow:
    id: str
    embedding_model: str
    embedding_dim: int | None
    retrieval_settings: Mapping[str, Any]
    revision: int


class KnowledgeBaseRows(Protocol):
    """Where a retriever keeps the knowledge-base rows it read, by *(owner, knowledge base)*:
    `snapagent.services.lookup_cache.LookupCache`, emptied whenever a write to
    ``knowledge_bases`` commits anywhere (a new revision, settings, deletion)."""

    def tag(self) -> int | None: ...

    def get(self, key: tuple[str, str]) -> Any: ...

    def put(self, key: tuple[str, str], tag: int | None, value: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class _Hit:
    kb_id: str
    chunk_id: str
    score: float


class KnowledgeRetriever:
    """Finds the chunks most relevant to a query in one or more knowledge bases.

    >>> retriever = KnowledgeRetriever(db, resolver)  # doctest: +SKIP
    >>> query = RetrievalQuery("refund policy", [kb_id], owner_id=user_id)  # doctest: +SKIP
    >>> await retriever.retrieve(query)  # doctest: +SKIP
    """

    def __init__(
        self,
        db: Database,
        embeddings: EmbeddingResolver,
        *,
        settings: KnowledgeSettings | None = None,
        reranker: Reranker | None = None,
        cache: IndexCache | None = None,
    ) -> None:
        self._db = db
        self._embeddings = embeddings
        self._settings = settings or KnowledgeSettings()
        self._reranker = reranker
        self.cache = cache or IndexCache(db)
        # The app hands one in (`create_app`); without it every retrieval reads the rows.
        self.rows_cache: KnowledgeBaseRows | None = None

    def on_change(self, change: IndexChange) -> None:
        """Listener for committed changes (register it with the ingestion worker)."""
        self.cache.on_change(change)

    def fusion_config(self, kb_settings: Mapping[str, Any]) -> FusionConfig:
        """Global fusion defaults overridden by a KB's ``retrieval_settings``."""
        s = self._settings
        return FusionConfig(
            method=kb_settings.get("fusion_method", s.fusion_method),
            vector_weight=float(kb_settings.get("vector_weight", s.vector_weight)),
            keyword_weight=float(kb_settings.get("keyword_weight", s.keyword_weight)),
            candidate_multiplier=int(
                kb_settings.get("candidate_multiplier", s.candidate_multiplier)
            ),
        )

    async def retrieve(self, query: RetrievalQuery) -> list[RetrievedDocument]:
        _validate(query)
        if not query.query.strip() or not query.knowledge_base_ids:
            return []
        rows = await self._kb_rows(query.knowledge_base_ids, query.owner_id)
        query_vectors: dict[str, npt.NDArray[np.float32]] = {}
        hits: list[_Hit] = []
        indexes: dict[str, KnowledgeBaseIndex] = {}
        for row in rows:
            index = await self.cache.get(row.id, row.revision)
            indexes[row.id] = index
            hits.extend(await self._search_kb(query, row, index, query_vectors))
        hits.sort(key=lambda h: -h.score)
        if self._reranker is not None and hits:
            hits = await self._rerank(query.query, hits, indexes)
        if query.score_threshold is not None:
            hits = [h for h in hits if h.score >= query.score_threshold]
        return [_to_document(h, indexes[h.kb_id], query.mode) for h in hits[: query.top_k]]

    async def _kb_rows(self, kb_ids: Any, owner_id: str) -> list[_KBRow]:
        """The named knowledge bases that belong to ``owner_id`` (others are left out)."""
        ids = list(dict.fromkeys(kb_ids))
        found: dict[str, _KBRow] = {}
        cache, tag = self.rows_cache, None
        if cache is not None:
            # Only rows this owner's own lookups loaded; misses are never kept.
            for kb_id in ids:
                row = cache.get((owner_id, kb_id))
                if row is not None:
                    found[kb_id] = row
            if len(found) == len(ids):
                return [found[i] for i in ids]
            tag = cache.tag()  # before reading: a change committed meanwhile voids the copies
        wanted = [kb_id for kb_id in ids if kb_id not in found]
        async with self._db.session() as session:
            result = await session.execute(
                select(
                    KnowledgeBase.id,
                    KnowledgeBase.embedding_model,
                    KnowledgeBase.embedding_dim,
                    KnowledgeBase.retrieval_settings,
                    KnowledgeBase.revision,
                ).where(KnowledgeBase.id.in_(wanted), KnowledgeBase.owner_id == owner_id)
            )
            for r in result:
                found[r.id] = row = _KBRow(*r)
                if cache is not None:
                    cache.put((owner_id, row.id), tag, row)
            missing = [kb_id for kb_id in ids if kb_id not in found]
            if missing:
                # Deleted or another account's: either way they contribute nothing. Only the
                # deleted ones leave the cache (naming someone's id must not evict their index).
                existing = set(
                    await session.scalars(
                        select(KnowledgeBase.id).where(KnowledgeBase.id.in_(missing))
                    )
                )
                for kb_id in missing:
                    if kb_id not in existing:
                        self.cache.forget(kb_id)
                if existing:
                    log.warning(
                        "retrieval skipped %d knowledge base(s) of another account", len(existing)
                    )
        return [found[i] for i in ids if i in found]

    async def _search_kb(
        self,
        query: RetrievalQuery,
        row: _KBRow,
        index: KnowledgeBaseIndex,
        query_vectors: dict[str, npt.NDArray[np.float32]],
    ) -> list[_Hit]:
        allowed: set[str] | None = None
        if query.document_ids is not None:
            allowed = index.chunk_ids_of(query.document_ids)
            if not allowed:
                return []
        config = self.fusion_config(row.retrieval_settings)
        want_vector = query.mode == "vector"
        if query.mode == "hybrid":
            try:
                model = self._embeddings(row.embedding_model)
            except SnapAgentError as exc:  # e.g. the provider's key was removed
                log.warning("vector side skipped for %s: %s", row.id, exc.message)
            else:
                languages = row.retrieval_settings.get(
                    "embedding_languages", model_languages(row.embedding_model, model)
                )
                config = config.for_query(query.query, languages)
                want_vector = config.uses_vector
        candidates = config.candidates(query.top_k)
        if self._reranker is not None:
            candidates = max(candidates, query.top_k * 2)
        vector: npt.NDArray[np.float32] | None = None
        if want_vector and row.embedding_dim is not None and len(index):
            try:
                vector = await self._query_vector(row.embedding_model, query.query, query_vectors)
            except SnapAgentError as exc:
                if query.mode == "vector" or isinstance(exc, InputValidationError):
                    raise
                # Hybrid degrades to keyword-only rather than failing the whole answer.
                log.warning("vector side skipped for %s: %s", row.id, exc.message)
            else:
                _check_dimension(row, vector)
        keyword = query.mode in ("hybrid", "keyword")
        in_memory = vector if index.vectors is not None else None

        def search_in_memory() -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
            keyword_hits = index.keyword.search(query.query, candidates, allowed) if keyword else []
            vector_hits: list[tuple[str, float]] = []
            if in_memory is not None and index.vectors is not None:
                vector_hits = index.vectors.search(in_memory, candidates, allowed)
            return keyword_hits, vector_hits

        # BM25 and the vector product are CPU work that grows with the knowledge base: on a
        # small one, less than a thread hop (tens of microseconds); on a large one, one hop
        # for both keeps the event loop serving meanwhile.
        if len(index) > self._settings.inline_search_chunks:
            keyword_hits, vector_hits = await asyncio.to_thread(search_in_memory)
        else:
            keyword_hits, vector_hits = search_in_memory()
        if vector is not None and in_memory is None and self._db.is_postgres:
            vector_hits = await self._pg_search(row, index, vector, candidates, query, allowed)
        if query.mode == "keyword":
            ranked = keyword_hits
        elif query.mode == "vector":
            ranked = vector_hits
        else:
            ranked = fuse(keyword_hits, vector_hits, config)
        # pgvector may see chunks committed after this index was loaded: skip those this time.
        return [
            _Hit(row.id, chunk_id, score)
            for chunk_id, score in ranked[:candidates]
            if chunk_id in index.chunks
        ]

    async def _query_vector(
        self, spec: str, text: str, cache: dict[str, npt.NDArray[np.float32]]
    ) -> npt.NDArray[np.float32]:
        if spec not in cache:
            vector = await self._embeddings(spec).embed_query(text)
            cache[spec] = np.asarray(vector, dtype=np.float32).reshape(-1)
        return cache[spec]

    async def _pg_search(
        self,
        row: _KBRow,
        index: KnowledgeBaseIndex,
        vector: npt.NDArray[np.float32],
        top_k: int,
        query: RetrievalQuery,
        allowed: set[str] | None,
    ) -> list[tuple[str, float]]:
        async with self._db.transaction() as session:
            return await pg_vector_search(
                session,
                knowledge_base_id=row.id,
                owner_id=query.owner_id,
                vector=vector,
                top_k=top_k,
                document_ids=list(query.document_ids) if query.document_ids is not None else None,
                ef_search=self._settings.hnsw_ef_search,
                expected=len(allowed) if allowed is not None else len(index),
            )

    async def _rerank(
        self, query: str, hits: list[_Hit], indexes: Mapping[str, KnowledgeBaseIndex]
    ) -> list[_Hit]:
        assert self._reranker is not None
        by_id = {h.chunk_id: h for h in hits}
        candidates = [
            RerankCandidate(h.chunk_id, indexes[h.kb_id].chunks[h.chunk_id].text, h.score)
            for h in hits
        ]
        reranked = await self._reranker.rerank(query, candidates)
        # A reranker may drop candidates but never invent them.
        return [
            dataclasses.replace(by_id[chunk_id], score=float(score))
            for chunk_id, score in reranked
            if chunk_id in by_id
        ]


# Languages of embedding models that do not declare them (`languages` attribute).
# all-MiniLM-L6-v2 was trained on English only (measured on KorQuAD: recall@5 0.08).
_KNOWN_LANGUAGES: dict[str, tuple[str, ...]] = {
    "local": ("en",),
    "local:all-minilm-l6-v2": ("en",),
    "local:multilingual-e5-small": ("multilingual",),
}


def model_languages(spec: str, model: object) -> Sequence[str] | None:
    """ISO 639-1 codes the embedding model covers; None means unknown (treated as all)."""
    declared = getattr(model, "languages", None)
    if declared is not None:
        return tuple(declared)
    return _KNOWN_LANGUAGES.get(spec)


def _check_dimension(row: _KBRow, vector: npt.NDArray[np.float32]) -> None:
    if vector.shape[0] != row.embedding_dim:
        raise InputValidationError(
            f"the query embedding has {vector.shape[0]} dimensions, knowledge base "
            f"{row.id} holds {row.embedding_dim}: its embedding model changed",
            field="knowledge_base_ids",
        )


def _validate(query: RetrievalQuery) -> None:
    if query.mode not in _MODES:
        raise InputValidationError(
            f"mode must be one of {', '.join(_MODES)}, not {query.mode!r}", field="mode"
        )
    if not 1 <= query.top_k <= MAX_TOP_K:
        raise InputValidationError(f"top_k must be within 1..{MAX_TOP_K}", field="top_k")
    if isinstance(query.knowledge_base_ids, str):
        raise InputValidationError("knowledge_base_ids must be a list", field="knowledge_base_ids")
    if not isinstance(query.owner_id, str):
        raise InputValidationError("a retrieval names the owner it runs for", field="owner_id")


def _to_document(hit: _Hit, index: KnowledgeBaseIndex, mode: str) -> RetrievedDocument:
    chunk = index.chunks[hit.chunk_id]
    return RetrievedDocument(
        text=chunk.text,
        score=hit.score,
        document_id=chunk.document_id,
        document_title=chunk.document_title,
        knowledge_base_id=hit.kb_id,
        chunk_id=chunk.id,
        chunk_index=chunk.chunk_index,
        heading=chunk.heading,
        metadata={"char_start": chunk.char_start, "char_end": chunk.char_end, "mode": mode},
    )
