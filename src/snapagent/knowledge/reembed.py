"""Re-embedding a knowledge base with another embedding model, switched in one transaction.

A knowledge base keeps the embedding model it was built with; moving it to another one (e.g.
from ``local``, the English all-MiniLM-L6-v2, to ``local:multilingual-e5-small``) is this
explicit step (``snapagent kb reembed``). The chunks stay as they are (same text, same ids);
only their vectors change:

1. every chunk's text is embedded with the new model, batch by batch, outside any transaction
   (the knowledge base keeps answering with its old model meanwhile), reporting progress;
2. then ONE transaction writes every new vector, records the new model and dimension on the
   knowledge base and bumps its revision, so retrieval sees old vectors with the old model or
   new vectors with the new model, never a mix. Chunks added meanwhile are embedded before the
   switch; a document still being ingested is waited for; a job that claimed its document with
   the old model and finishes after the switch is queued again (`jobs.finish_job`).

The new vectors are held in memory until the switch: ``chunks x dimension x 4`` bytes (150 MB
for 100k chunks of 384 dimensions). Interrupted, it changes nothing; run it again.

    result = await reembed_knowledge_base(db, kb_id, "local:multilingual-e5-small", model,
                                          progress=lambda done, total: print(done, total))
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, update

from snapagent.db.models.knowledge import Chunk, Document, DocumentStatus, KnowledgeBase
from snapagent.db.session import Database
from snapagent.db.vector_indexes import ensure_hnsw_index
from snapagent.errors import ConflictError, InputValidationError
from snapagent.knowledge.store import bump_revision
from snapagent.llm.embedding import EmbeddingModel

__all__ = ["ReembedResult", "reembed_knowledge_base"]

Progress = Callable[[int, int], None]  # (chunks embedded, chunks in the knowledge base)
# How long the switch waits for documents of the knowledge base that are being ingested.
INGESTION_WAIT_SECONDS = 600.0
_POLL_SECONDS = 0.5
_READ_BATCH = 1000


class _ChunksMoved(Exception):
    """Chunks were added, or a document started ingesting, since the vectors were computed."""


@dataclass(frozen=True, slots=True)
class ReembedResult:
    knowledge_base_id: str
    previous_model: str
    model: str
    dimension: int
    chunks: int
    revision: int


async def reembed_knowledge_base(
    db: Database,
    kb_id: str,
    spec: str,
    model: EmbeddingModel,
    *,
    batch_size: int = 32,
    progress: Progress | None = None,
    ingestion_wait_seconds: float = INGESTION_WAIT_SECONDS,
) -> ReembedResult:
    """Embed every chunk of ``kb_id`` with ``model`` (spec ``spec``) and switch to it.

    Ownership is the caller's to check (`KnowledgeService.reembed`). Raises `ConflictError` if
    documents of the knowledge base are still being ingested after ``ingestion_wait_seconds``.
    """
    async with db.session() as session:
        previous = await session.scalar(
            select(KnowledgeBase.embedding_model).where(KnowledgeBase.id == kb_id)
        )
    vectors: dict[str, npt.NDArray[np.float32]] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ingestion_wait_seconds
    while True:
        await _embed_missing(db, kb_id, model, vectors, batch_size, progress)
        if await _ingesting(db, kb_id):
            if loop.time() >= deadline:
                raise ConflictError(
                    f"documents of knowledge base {kb_id} are still being ingested; "
                    "try again when they are indexed",
                    details={"knowledge_base_id": kb_id},
                )
            await asyncio.sleep(_POLL_SECONDS)
            continue
        if db.is_postgres:
            async with db.transaction() as session:
                await ensure_hnsw_index(session, model.dimension)
        revision = await _switch(db, kb_id, spec, model.dimension, vectors)
        if revision is not None:
            return ReembedResult(
                kb_id, str(previous), spec, model.dimension, len(vectors), revision
            )
        # Chunks appeared (or documents started ingesting) since the last look: go round again.


async def _embed_missing(
    db: Database,
    kb_id: str,
    model: EmbeddingModel,
    vectors: dict[str, npt.NDArray[np.float32]],
    batch_size: int,
    progress: Progress | None,
) -> None:
    texts = await _chunk_texts(db, kb_id)
    for gone in set(vectors) - set(texts):
        del vectors[gone]  # deleted meanwhile
    todo = [chunk_id for chunk_id in texts if chunk_id not in vectors]
    if progress is not None:
        progress(len(vectors), len(texts))
    for start in range(0, len(todo), batch_size):
        ids = todo[start : start + batch_size]
        embedded = np.asarray(
            await model.embed_documents([texts[i] for i in ids]), dtype=np.float32
        )
        if embedded.shape != (len(ids), model.dimension) or not np.isfinite(embedded).all():
            raise InputValidationError(
                f"embedding model {model.model_id!r} returned unusable vectors "
                f"(shape {embedded.shape}, expected {(len(ids), model.dimension)})",
                field="embedding_model",
            )
        vectors.update(zip(ids, embedded, strict=True))
        if progress is not None:
            progress(len(vectors), len(texts))


async def _chunk_texts(db: Database, kb_id: str) -> dict[str, str]:
    query = (
        select(Chunk.id, Chunk.text)
        .where(Chunk.knowledge_base_id == kb_id)
        .order_by(Chunk.document_id, Chunk.chunk_index)
    )
    texts: dict[str, str] = {}
    async with db.session() as session:
        result = await session.stream(query.execution_options(yield_per=_READ_BATCH))
        async for rows in result.partitions(_READ_BATCH):
            texts.update((row.id, row.text) for row in rows)
    return texts


async def _ingesting(db: Database, kb_id: str) -> bool:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(Document)
            .where(
                Document.knowledge_base_id == kb_id,
                Document.status.in_(DocumentStatus.in_progress()),
            )
        )
    return bool(count)


async def _switch(
    db: Database,
    kb_id: str,
    spec: str,
    dimension: int,
    vectors: dict[str, npt.NDArray[np.float32]],
) -> int | None:
    """Write every vector and the new model in one transaction; None if the chunk set moved."""
    try:
        return await _write(db, kb_id, spec, dimension, vectors)
    except _ChunksMoved:
        return None


async def _write(
    db: Database,
    kb_id: str,
    spec: str,
    dimension: int,
    vectors: dict[str, npt.NDArray[np.float32]],
) -> int:
    async with db.transaction() as session:
        # First write: takes the lock (SQLite) / the row lock (PostgreSQL) before checking.
        await session.execute(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == kb_id)
            .values(embedding_model=spec, embedding_dim=dimension)
            .execution_options(synchronize_session=False)
        )
        current = set(
            await session.scalars(select(Chunk.id).where(Chunk.knowledge_base_id == kb_id))
        )
        in_progress = await session.scalar(
            select(func.count())
            .select_from(Document)
            .where(
                Document.knowledge_base_id == kb_id,
                Document.status.in_(DocumentStatus.in_progress()),
            )
        )
        if current - set(vectors) or in_progress:
            raise _ChunksMoved  # rolls the transaction back
        rows = [
            {"id": chunk_id, "embedding": vectors[chunk_id], "embedding_dim": dimension}
            for chunk_id in current
        ]
        for start in range(0, len(rows), _READ_BATCH):
            await session.execute(update(Chunk), rows[start : start + _READ_BATCH])
        return await bump_revision(session, kb_id)
