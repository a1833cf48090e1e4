"""The ingestion job queue, kept in the ``documents`` table.

A queued document is a job. `queued_owners` says which accounts have jobs waiting (the
scheduler in `snapagent.knowledge.scheduling` picks one); `claim_next_job` takes the oldest
job (of that account) in a single ``UPDATE ...
WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) ... RETURNING`` statement: on SQLite (where
``FOR UPDATE`` is not rendered) it is one write that takes the database lock up front; on
PostgreSQL several workers can claim concurrently without ever taking the same job. Every
later write of the job is conditioned on the ``attempts`` value returned by the claim, so a
worker whose job was re-claimed (or deleted) cannot overwrite the newer state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from snapagent.db.base import utcnow
from snapagent.db.models.knowledge import Chunk, Document, DocumentStatus, KnowledgeBase
from snapagent.db.session import Database
from snapagent.knowledge.records import ChunkRecord
from snapagent.knowledge.store import bump_revision

__all__ = [
    "ClaimedJob",
    "claim_next_job",
    "finish_job",
    "mark_failed",
    "queued_owners",
    "requeue_interrupted",
    "update_job",
]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A document claimed for ingestion, with the KB settings it is ingested with."""

    document_id: str
    knowledge_base_id: str
    owner_id: str
    attempt: int
    filename: str
    content_type: str | None
    title: str
    embedding_model: str
    embedding_dim: int | None
    chunk_max_tokens: int
    chunk_overlap_tokens: int


def _is_current(job: ClaimedJob) -> object:
    return (Document.id == job.document_id) & (Document.attempts == job.attempt)


async def queued_owners(db: Database) -> dict[str, datetime]:
    """The accounts with queued documents, each with the upload time of its oldest one.

    One indexed read of the queued rows (``status, created_at``), grouped by owner.
    """
    async with db.session() as session:
        rows = await session.execute(
            select(KnowledgeBase.owner_id, func.min(Document.created_at))
            .join(KnowledgeBase, KnowledgeBase.id == Document.knowledge_base_id)
            .where(Document.status == DocumentStatus.QUEUED)
            .group_by(KnowledgeBase.owner_id)
        )
        return {row[0]: row[1] for row in rows}


async def claim_next_job(db: Database, owner_id: str | None = None) -> ClaimedJob | None:
    """Claim the oldest queued document (of ``owner_id``'s knowledge bases, if given) - status
    -> parsing - or return None if there is none (or another worker took it first)."""
    now = utcnow()
    queued = Document.status == DocumentStatus.QUEUED
    if owner_id is not None:
        # A subquery rather than a join: FOR UPDATE must lock the document row only.
        owned = select(KnowledgeBase.id).where(KnowledgeBase.owner_id == owner_id)
        queued = queued & Document.knowledge_base_id.in_(owned)
    next_id = (
        select(Document.id)
        .where(queued)
        .order_by(Document.created_at, Document.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    async with db.transaction() as session:
        row = (
            await session.execute(
                update(Document)
                .where(Document.id == next_id, Document.status == DocumentStatus.QUEUED)
                .values(
                    status=DocumentStatus.PARSING,
                    attempts=Document.attempts + 1,
                    claimed_at=now,
                    updated_at=now,
                    error=None,
                    chunks_done=0,
                )
                .returning(Document.id, Document.attempts)
                .execution_options(synchronize_session=False)
            )
        ).first()
        if row is None:
            return None
        doc_id, attempt = row
        doc, kb = (
            await session.execute(
                select(Document, KnowledgeBase)
                .join(KnowledgeBase, KnowledgeBase.id == Document.knowledge_base_id)
                .where(Document.id == doc_id)
            )
        ).one()
        return ClaimedJob(
            document_id=doc.id,
            knowledge_base_id=kb.id,
            owner_id=kb.owner_id,
            attempt=int(attempt),
            filename=doc.filename,
            content_type=doc.content_type,
            title=doc.title,
            embedding_model=kb.embedding_model,
            embedding_dim=kb.embedding_dim,
            chunk_max_tokens=kb.chunk_max_tokens,
            chunk_overlap_tokens=kb.chunk_overlap_tokens,
        )


async def update_job(db: Database, job: ClaimedJob, **values: object) -> bool:
    """Record progress (status, counts, title) if the job is still ours; False if it is not."""
    async with db.transaction() as session:
        result = await session.execute(
            update(Document)
            .where(_is_current(job))  # type: ignore[arg-type]
            .values(updated_at=utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_failed(db: Database, job: ClaimedJob, reason: str) -> bool:
    return await update_job(db, job, status=DocumentStatus.FAILED, error=reason[:2000])


async def finish_job(
    db: Database, job: ClaimedJob, chunks: list[ChunkRecord], embedding_dim: int
) -> int | None:
    """Write all chunks and flip the document to indexed in ONE transaction.

    Replaces any chunks from an earlier run of the same document. Returns the KB's new
    revision, or None if the job is no longer ours (deleted or re-claimed meanwhile).
    """
    now = utcnow()
    async with db.transaction() as session:
        # The conditional status flip is the first write: it takes the lock and proves the
        # document still exists and is still this attempt's.
        flipped = await session.execute(
            update(Document)
            .where(_is_current(job), Document.status == DocumentStatus.EMBEDDING)  # type: ignore[arg-type]
            .values(
                status=DocumentStatus.INDEXED,
                error=None,
                chunks_total=len(chunks),
                chunks_done=len(chunks),
                indexed_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if not flipped.rowcount:  # type: ignore[attr-defined]
            return None
        if not await _model_unchanged(session, job):
            # Re-embedded with another model while this job embedded with the old one: its
            # vectors would not match the others. Queue it again (not counted as an attempt).
            await session.execute(
                update(Document)
                .where(Document.id == job.document_id)
                .values(status=DocumentStatus.QUEUED, attempts=job.attempt - 1, chunks_done=0)
                .execution_options(synchronize_session=False)
            )
            return None
        await _fix_dimension(session, job.knowledge_base_id, embedding_dim)
        await session.execute(delete(Chunk).where(Chunk.document_id == job.document_id))
        if chunks:
            await session.execute(
                insert(Chunk),
                [
                    {
                        "id": c.id,
                        "document_id": job.document_id,
                        "knowledge_base_id": job.knowledge_base_id,
                        "chunk_index": c.chunk_index,
                        "text": c.text,
                        "heading": c.heading,
                        "token_count": c.token_count,
                        "char_start": c.char_start,
                        "char_end": c.char_end,
                        "embedding_dim": embedding_dim,
                        "embedding": c.embedding,
                    }
                    for c in chunks
                ],
            )
        return await bump_revision(session, job.knowledge_base_id)


async def _model_unchanged(session: AsyncSession, job: ClaimedJob) -> bool:
    current = await session.scalar(
        select(KnowledgeBase.embedding_model).where(KnowledgeBase.id == job.knowledge_base_id)
    )
    return current == job.embedding_model


async def _fix_dimension(session: AsyncSession, kb_id: str, dim: int) -> None:
    await session.execute(
        update(KnowledgeBase)
        .where(KnowledgeBase.id == kb_id, KnowledgeBase.embedding_dim.is_(None))
        .values(embedding_dim=dim)
        .execution_options(synchronize_session=False)
    )


async def requeue_interrupted(
    db: Database, *, max_attempts: int, stale_before: datetime | None = None
) -> int:
    """Requeue documents whose worker died mid-ingestion; fail those out of attempts.

    A live worker touches ``updated_at`` at every step and every embedding batch (its
    heartbeat), so ``stale_before`` (now minus a grace period) only takes back jobs nobody is
    working on - safe with several processes or replicas on one database. ``None`` takes back
    every in-progress job (only when no other worker can exist).
    """
    in_progress: ColumnElement[bool] = Document.status.in_(DocumentStatus.in_progress())
    if stale_before is not None:
        in_progress = in_progress & (Document.updated_at < stale_before)
    now = utcnow()
    async with db.transaction() as session:
        failed = await session.execute(
            update(Document)
            .where(in_progress, Document.attempts >= max_attempts)
            .values(
                status=DocumentStatus.FAILED,
                error=f"ingestion was interrupted {max_attempts} times; retry it to try again",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        requeued = await session.execute(
            update(Document)
            .where(in_progress)
            .values(status=DocumentStatus.QUEUED, updated_at=now, chunks_done=0)
            .execution_options(synchronize_session=False)
        )
        return int(failed.rowcount + requeued.rowcount)  # type: ignore[attr-defined]
