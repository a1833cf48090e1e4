"""Per-knowledge-base in-memory search structures, loaded lazily and kept current.

For each knowledge base the cache holds a BM25 index over its chunks (both databases) and, on
SQLite, a float32 vector matrix (PostgreSQL searches vectors in SQL with pgvector). It stays
current two ways:

- changes made in this process arrive as `IndexChange` events (from the ingestion worker and
  the service) and are applied incrementally when they are the next revision;
- every lookup compares the cached revision with ``knowledge_bases.revision`` (one indexed
  read for all requested KBs), so a change committed by another process triggers a reload.

    cache = IndexCache(db, keep_vectors=db.is_sqlite)
    index = await cache.get(kb_id, revision=current_revision)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection, Iterable

import numpy as np
from sqlalchemy import select

from snapagent.db.models.knowledge import Chunk, Document
from snapagent.db.session import Database
from snapagent.knowledge.keyword import BM25Index
from snapagent.knowledge.records import ChunkRecord, IndexChange
from snapagent.knowledge.vector_index import VectorIndex

__all__ = ["IndexCache", "KnowledgeBaseIndex"]

log = logging.getLogger(__name__)

# Rows fetched per round trip when loading a knowledge base.
LOAD_BATCH = 5000


class KnowledgeBaseIndex:
    """The searchable chunks of one knowledge base at one revision."""

    def __init__(self, kb_id: str, revision: int, *, keep_vectors: bool) -> None:
        self.kb_id = kb_id
        self.revision = revision
        self.keep_vectors = keep_vectors
        self.keyword = BM25Index()
        self.vectors: VectorIndex | None = None
        # Chunk metadata without the vector (the vector lives in `vectors` only).
        self.chunks: dict[str, ChunkRecord] = {}
        self.by_document: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.chunks)

    def add(self, records: Iterable[ChunkRecord]) -> None:
        batch = list(records)
        if not batch:
            return
        self.keyword.add([r.id for r in batch], [_keyword_text(r) for r in batch])
        embedded = [r for r in batch if r.embedding is not None]
        if self.keep_vectors and embedded:
            matrix = np.stack([r.embedding for r in embedded if r.embedding is not None])
            if self.vectors is None:
                self.vectors = VectorIndex(matrix.shape[1])
            self.vectors.add([r.id for r in embedded], matrix)
        for r in batch:
            self.chunks[r.id] = dataclasses.replace(r, embedding=None)
            self.by_document.setdefault(r.document_id, set()).add(r.id)

    def remove(self, chunk_ids: Collection[str]) -> None:
        ids = [i for i in chunk_ids if i in self.chunks]
        if not ids:
            return
        self.keyword.remove(ids)
        if self.vectors is not None:
            self.vectors.remove(ids)
        for chunk_id in ids:
            record = self.chunks.pop(chunk_id)
            siblings = self.by_document.get(record.document_id)
            if siblings is not None:
                siblings.discard(chunk_id)
                if not siblings:
                    del self.by_document[record.document_id]

    def chunk_ids_of(self, document_ids: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for doc_id in document_ids:
            out |= self.by_document.get(doc_id, set())
        return out


def _keyword_text(record: ChunkRecord) -> str:
    # Headings are searchable too: a question often names the section it is about.
    return f"{record.heading}\n{record.text}" if record.heading else record.text


class IndexCache:
    """Lazily loaded `KnowledgeBaseIndex` per knowledge base, reloaded when stale."""

    def __init__(self, db: Database, *, keep_vectors: bool | None = None) -> None:
        self._db = db
        self._keep_vectors = db.is_sqlite if keep_vectors is None else keep_vectors
        self._indexes: dict[str, KnowledgeBaseIndex] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.loads = 0  # how many full loads happened (observability and tests)

    def forget(self, kb_id: str) -> None:
        self._indexes.pop(kb_id, None)

    def on_change(self, change: IndexChange) -> None:
        """Apply a committed change if it is the next revision; otherwise leave it stale."""
        index = self._indexes.get(change.knowledge_base_id)
        if index is None or index.revision >= change.revision:
            return  # not loaded, or a reload already saw this change
        if index.revision != change.revision - 1:
            return  # we missed a change (another process): the next get() reloads
        index.remove(change.removed_ids)
        index.add(change.added)
        index.revision = change.revision

    async def get(self, kb_id: str, revision: int) -> KnowledgeBaseIndex:
        """The index of `kb_id`, (re)loaded if it is not at `revision` (read from the DB)."""
        index = self._indexes.get(kb_id)
        if index is not None and index.revision == revision:
            return index
        lock = self._locks.setdefault(kb_id, asyncio.Lock())
        async with lock:
            index = self._indexes.get(kb_id)
            if index is not None and index.revision == revision:
                return index
            index = await self._load(kb_id, revision)
            self._indexes[kb_id] = index
            return index

    async def _load(self, kb_id: str, revision: int) -> KnowledgeBaseIndex:
        # `revision` was read before the chunks: if a change lands in between, the chunks are
        # newer than the label, the next get() sees a newer revision and reloads (never older).
        self.loads += 1
        index = KnowledgeBaseIndex(kb_id, revision, keep_vectors=self._keep_vectors)
        columns = [
            Chunk.id,
            Chunk.document_id,
            Document.title.label("document_title"),
            Chunk.chunk_index,
            Chunk.text,
            Chunk.heading,
            Chunk.char_start,
            Chunk.char_end,
            Chunk.token_count,
        ]
        if self._keep_vectors:
            columns.append(Chunk.embedding)
        query = (
            select(*columns)
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.knowledge_base_id == kb_id)
            .order_by(Chunk.document_id, Chunk.chunk_index)
        )
        async with self._db.session() as session:
            result = await session.stream(query.execution_options(yield_per=LOAD_BATCH))
            async for rows in result.partitions(LOAD_BATCH):
                batch = [ChunkRecord(**row._mapping) for row in rows]
                # Tokenising and indexing are CPU work: keep the event loop serving meanwhile.
                await asyncio.to_thread(index.add, batch)
        log.debug("loaded %d chunks of knowledge base %s", len(index), kb_id)
        return index
