"""Background ingestion on SQLite and PostgreSQL: statuses, progress, failures, crash safety."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from sqlalchemy import func, select

from snapagent.db.models.knowledge import Chunk, Document, DocumentStatus, KnowledgeBase
from snapagent.db.session import Database
from snapagent.knowledge import jobs
from snapagent.knowledge.ingestion import IngestionWorker
from snapagent.services.knowledge import KnowledgeService

GUIDE = """# 휴가 규정

## 연차

연차는 입사 1년 후 15일이 주어진다. 사용하지 않은 연차는 다음 해로 이월되지 않는다.

## Remote work

Employees may work remotely two days a week. Ask your manager first.
""".encode()


async def _setup(service: KnowledgeService) -> tuple[str, str]:
    owner = await service.ensure_user("owner@example.com")
    kb = await service.create_knowledge_base(
        owner, "handbook", chunk_max_tokens=32, chunk_overlap_tokens=4
    )
    return owner, kb.id


async def _claimed_by_hand(service: KnowledgeService) -> tuple[str, str, str, jobs.ClaimedJob]:
    """Worker stopped, one document uploaded and claimed: (owner, kb id, doc id, job)."""
    await service.close()
    owner, kb_id = await _setup(service)
    doc = await service.add_document(owner, kb_id, "guide.md", GUIDE)
    job = await jobs.claim_next_job(service.db)
    assert job is not None
    assert job.document_id == doc.id
    return owner, kb_id, doc.id, job


async def _wait(service: KnowledgeService, ids: list[str]) -> None:
    async with asyncio.timeout(60):
        await service.wait_for_documents(ids)


async def test_document_goes_from_queued_to_indexed_with_chunks(
    knowledge_service: KnowledgeService,
) -> None:
    owner, kb_id = await _setup(knowledge_service)
    doc = await knowledge_service.add_document(owner, kb_id, "guide.md", GUIDE)
    assert doc.status == "queued"
    assert doc.created
    await _wait(knowledge_service, [doc.id])

    done = await knowledge_service.get_document(owner, kb_id, doc.id)
    assert done.status == "indexed", done.error
    assert done.title == "휴가 규정"  # the parsed title replaces the file name
    assert done.chunks_total >= 2
    assert done.chunks_done == done.chunks_total
    assert done.attempts == 1
    assert done.indexed_at is not None
    async with knowledge_service.db.session() as session:
        chunks = (
            await session.scalars(
                select(Chunk).where(Chunk.document_id == doc.id).order_by(Chunk.chunk_index)
            )
        ).all()
        kb = await session.get(KnowledgeBase, kb_id)
    assert kb is not None
    assert [c.chunk_index for c in chunks] == list(range(done.chunks_total))
    assert kb.embedding_dim == 64
    assert kb.revision == 1
    assert all(c.embedding.shape == (64,) for c in chunks)
    assert abs(float(np.linalg.norm(chunks[0].embedding)) - 1.0) < 1e-5
    assert any("연차" in c.text and c.heading and "연차" in c.heading for c in chunks)


async def test_identical_upload_is_not_duplicated(knowledge_service: KnowledgeService) -> None:
    owner, kb_id = await _setup(knowledge_service)
    first = await knowledge_service.add_document(owner, kb_id, "a.md", GUIDE)
    again = await knowledge_service.add_document(owner, kb_id, "renamed.md", GUIDE)
    assert again.id == first.id
    assert not again.created
    assert len(await knowledge_service.list_documents(owner, kb_id)) == 1


async def test_a_failing_document_does_not_affect_others(
    knowledge_service: KnowledgeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Uploads unchecked: a file that cannot be read would be refused at upload otherwise
    # (tests/knowledge/test_upload_checks.py); here it must fail in the background.
    monkeypatch.setattr(knowledge_service.settings, "upload_check_timeout_s", 0)
    owner, kb_id = await _setup(knowledge_service)
    # Set before uploading: the background worker may start on a document at once.
    knowledge_service.embeddings("local").fail_marker = "EXPLODE"  # type: ignore[attr-defined]
    bad_pdf = await knowledge_service.add_document(owner, kb_id, "broken.pdf", b"%PDF-1.7 junk")
    refused = await knowledge_service.add_document(
        owner, kb_id, "boom.txt", b"this text makes the embedding server EXPLODE"
    )
    good = await knowledge_service.add_document(owner, kb_id, "guide.md", GUIDE)
    await _wait(knowledge_service, [bad_pdf.id, refused.id, good.id])

    states = {d.filename: d for d in await knowledge_service.list_documents(owner, kb_id)}
    assert states["broken.pdf"].status == "failed"
    assert "broken.pdf" in (states["broken.pdf"].error or "")
    assert states["boom.txt"].status == "failed"
    assert "refused" in (states["boom.txt"].error or "")
    assert states["guide.md"].status == "indexed"

    # The cause is fixed: retry ingests it.
    knowledge_service.embeddings("local").fail_marker = None  # type: ignore[attr-defined]
    retried = await knowledge_service.retry_document(owner, kb_id, refused.id)
    assert retried.status == "queued"
    await _wait(knowledge_service, [refused.id])
    assert (await knowledge_service.get_document(owner, kb_id, refused.id)).status == "indexed"


async def test_crash_while_writing_chunks_leaves_nothing_half_indexed(
    knowledge_service: KnowledgeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    await knowledge_service.close()  # drive the worker by hand
    owner, kb_id = await _setup(knowledge_service)
    doc = await knowledge_service.add_document(owner, kb_id, "guide.md", GUIDE)

    async def power_cut(session: object, kb: str) -> int:
        raise OSError("disk vanished")  # after the chunks were inserted, before commit

    monkeypatch.setattr(jobs, "bump_revision", power_cut)
    await knowledge_service.worker.run_until_idle()
    state = await knowledge_service.get_document(owner, kb_id, doc.id)
    assert state.status == "failed"
    async with knowledge_service.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Chunk))
    assert count == 0

    monkeypatch.undo()
    await knowledge_service.retry_document(owner, kb_id, doc.id)
    await knowledge_service.worker.run_until_idle()
    state = await knowledge_service.get_document(owner, kb_id, doc.id)
    assert state.status == "indexed"
    assert state.chunks_total > 0


async def test_process_killed_mid_ingestion_is_requeued_on_restart(
    knowledge_service: KnowledgeService,
) -> None:
    # A worker claims the job, gets to "embedding", and its process dies.
    owner, kb_id, doc_id, job = await _claimed_by_hand(knowledge_service)
    assert await jobs.update_job(knowledge_service.db, job, status=DocumentStatus.EMBEDDING)
    assert (await knowledge_service.get_document(owner, kb_id, doc_id)).status == "embedding"

    restarted = IngestionWorker(knowledge_service.db, knowledge_service.embeddings)
    # Within the grace period the job may still have a live worker: leave it alone.
    assert await restarted.recover() == 0
    assert (await knowledge_service.get_document(owner, kb_id, doc_id)).status == "embedding"
    # Its heartbeat is stale: take it back.
    assert await restarted.recover(stale_after=0) == 1
    assert (await knowledge_service.get_document(owner, kb_id, doc_id)).status == "queued"
    try:
        assert await restarted.run_until_idle() == 1
    finally:
        await restarted.stop()  # closes the parser workers it started
    final = await knowledge_service.get_document(owner, kb_id, doc_id)
    assert final.status == "indexed"
    assert final.attempts == 2
    # The dead worker's late write cannot overwrite the newer attempt.
    assert not await jobs.update_job(knowledge_service.db, job, status=DocumentStatus.FAILED)


async def test_repeatedly_interrupted_document_fails_instead_of_looping(
    knowledge_service: KnowledgeService,
) -> None:
    await knowledge_service.close()
    owner, kb_id = await _setup(knowledge_service)
    doc = await knowledge_service.add_document(owner, kb_id, "guide.md", GUIDE)
    for _ in range(knowledge_service.settings.max_attempts):
        assert await jobs.claim_next_job(knowledge_service.db) is not None
        await jobs.requeue_interrupted(
            knowledge_service.db, max_attempts=knowledge_service.settings.max_attempts
        )
    state = await knowledge_service.get_document(owner, kb_id, doc.id)
    assert state.status == "failed"
    assert "interrupted" in (state.error or "")


async def test_deleting_a_document_removes_chunks_and_original(
    knowledge_service: KnowledgeService,
) -> None:
    owner, kb_id = await _setup(knowledge_service)
    doc = await knowledge_service.add_document(owner, kb_id, "guide.md", GUIDE)
    await _wait(knowledge_service, [doc.id])
    await knowledge_service.delete_document(owner, kb_id, doc.id)
    async with knowledge_service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Chunk)) == 0
        assert await session.scalar(select(func.count()).select_from(Document)) == 0
        kb = await session.get(KnowledgeBase, kb_id)
    assert kb is not None
    assert kb.revision == 2  # indexed, then deleted


async def test_document_deleted_while_being_ingested_stops_cleanly(
    knowledge_service: KnowledgeService,
) -> None:
    owner, kb_id, doc_id, job = await _claimed_by_hand(knowledge_service)
    await knowledge_service.delete_document(owner, kb_id, doc_id)
    await knowledge_service.worker.process(job)  # must neither raise nor resurrect it
    async with knowledge_service.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Chunk)) == 0
        assert await session.scalar(select(func.count()).select_from(Document)) == 0


async def test_concurrent_workers_never_claim_the_same_document(
    knowledge_service: KnowledgeService, migrated_db: Database
) -> None:
    await knowledge_service.close()
    owner, kb_id = await _setup(knowledge_service)
    queued = {
        (await knowledge_service.add_document(owner, kb_id, f"n{i}.txt", f"note {i}".encode())).id
        for i in range(6)
    }
    # Two "replicas": separate engines (separate connection pools) on one database.
    other = Database(migrated_db.url.render_as_string(hide_password=False))
    try:
        claims = await asyncio.gather(*(jobs.claim_next_job(db) for db in [migrated_db, other] * 4))
    finally:
        await other.dispose()
    claimed = [c.document_id for c in claims if c is not None]
    assert len(claimed) == len(set(claimed)) == len(queued)
    assert set(claimed) == queued


async def test_stopping_mid_ingestion_hands_the_document_back(
    knowledge_service: KnowledgeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, kb_id = await _setup(knowledge_service)
    model = knowledge_service.embeddings("local")
    started = asyncio.Event()
    real = model.embed_documents

    async def slow(texts: list[str]) -> object:
        started.set()
        await asyncio.sleep(3600)  # an embedding call that is still running at shutdown
        return await real(texts)

    monkeypatch.setattr(model, "embed_documents", slow)
    doc = await knowledge_service.add_document(owner, kb_id, "guide.md", GUIDE)
    async with asyncio.timeout(60):
        await started.wait()
    assert (await knowledge_service.get_document(owner, kb_id, doc.id)).status == "embedding"
    await knowledge_service.close()
    state = await knowledge_service.get_document(owner, kb_id, doc.id)
    assert (state.status, state.attempts, state.chunks_done) == ("queued", 0, 0)

    monkeypatch.undo()
    knowledge_service.start()
    async with asyncio.timeout(60):
        await knowledge_service.wait_for_documents([doc.id])
    assert (await knowledge_service.get_document(owner, kb_id, doc.id)).status == "indexed"
