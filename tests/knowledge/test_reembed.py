"""Re-embedding a knowledge base with another model: all chunks, one switch, no mixed vectors.

Two deterministic models of different sizes stand in for the old and the new embedding model,
so a vector written by the wrong one shows up as a wrong dimension.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update

from conftest import HashEmbeddingModel
from snapagent.db.models.knowledge import Chunk, Document, KnowledgeBase
from snapagent.db.session import Database
from snapagent.errors import DefinitionError, InputValidationError, NotFoundError
from snapagent.knowledge.jobs import claim_next_job, finish_job, update_job
from snapagent.knowledge.records import ChunkRecord
from snapagent.services.knowledge import KnowledgeService

OLD, NEW = "old-model", "new-model"
DOCS = {
    "tea.md": "# Green tea\n\nSteep green tea at 80 degrees for two minutes.",
    "bikes.md": "# Bicycles\n\nOil the chain every few hundred kilometres.",
    "leave.md": "# 연차\n\n1년 이상 근무하면 매년 15일의 연차가 주어집니다.",
}


class _Models:
    """Resolves OLD to a 64-d model and NEW to a 32-d one; NEW can run a hook on a batch."""

    def __init__(self) -> None:
        self.old = HashEmbeddingModel(64)
        self.new = HashEmbeddingModel(32)
        self.on_new_batch: Any = None

    def __call__(self, spec: str) -> Any:
        if spec == OLD:
            return self.old
        if spec == NEW:
            return _Hooked(self)
        raise DefinitionError(f"unknown embedding model {spec!r}")


class _Hooked:
    def __init__(self, models: _Models) -> None:
        self._models = models
        self.model_id = NEW
        self.dimension = 32

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        hook, self._models.on_new_batch = self._models.on_new_batch, None
        if hook is not None:
            await hook()
        return await self._models.new.embed_documents(texts)

    async def embed_query(self, text: str) -> np.ndarray:
        return await self._models.new.embed_query(text)

    def count_tokens(self, text: str) -> int:
        return self._models.new.count_tokens(text)


@pytest.fixture
async def setup(migrated_db: Database) -> AsyncIterator[tuple[KnowledgeService, _Models, str]]:
    models = _Models()
    service = KnowledgeService(migrated_db, embeddings=models)
    service.start()
    try:
        yield service, models, await service.ensure_user("owner@example.com")
    finally:
        await service.close()


async def _kb_with_docs(service: KnowledgeService, owner: str) -> tuple[str, dict[str, str]]:
    kb = await service.create_knowledge_base(owner, "handbook", embedding_model=OLD)
    ids = {
        name: (await service.add_document(owner, kb.id, name, body.encode())).id
        for name, body in DOCS.items()
    }
    async with asyncio.timeout(30):
        states = await service.wait_for_documents(list(ids.values()))
    assert {s.status for s in states} == {"indexed"}
    return kb.id, ids


async def _dimensions(db: Database, kb_id: str) -> set[int]:
    async with db.session() as session:
        rows = await session.execute(
            select(Chunk.embedding_dim, Chunk.embedding).where(Chunk.knowledge_base_id == kb_id)
        )
        return {dim for dim, vector in rows if len(np.asarray(vector)) == dim}


async def test_reembed_switches_every_chunk_and_the_model_at_once(
    setup: tuple[KnowledgeService, _Models, str],
) -> None:
    service, _models, owner = setup
    kb_id, ids = await _kb_with_docs(service, owner)
    before = await service.query(owner, [kb_id], "chain oil", mode="vector", top_k=1)
    seen: list[tuple[int, int]] = []

    result = await service.reembed(owner, kb_id, NEW, progress=lambda d, t: seen.append((d, t)))

    chunks = result.chunks
    assert chunks >= len(DOCS)
    assert (result.previous_model, result.model, result.dimension) == (OLD, NEW, 32)
    assert seen[0] == (0, chunks)
    assert seen[-1] == (chunks, chunks)
    info = await service.get_knowledge_base(owner, kb_id)
    assert (info.embedding_model, info.embedding_dim) == (NEW, 32)
    assert await _dimensions(service.db, kb_id) == {32}
    # Retrieval now embeds the question with the new model and finds the same chunk.
    after = await service.query(owner, [kb_id], "chain oil", mode="vector", top_k=1)
    assert before[0].document_id == after[0].document_id == ids["bikes.md"]
    # A document added afterwards is ingested with the new model.
    extra = await service.add_document(owner, kb_id, "late.md", b"# Late\n\nArrived later.")
    async with asyncio.timeout(30):
        (state,) = await service.wait_for_documents([extra.id])
    assert state.status == "indexed"
    assert await _dimensions(service.db, kb_id) == {32}


async def test_chunks_indexed_during_the_reembed_are_embedded_before_the_switch(
    setup: tuple[KnowledgeService, _Models, str],
) -> None:
    service, models, owner = setup
    kb_id, _ids = await _kb_with_docs(service, owner)
    added: list[str] = []

    async def upload_meanwhile() -> None:
        # Ingested (with the old model) while the first pass of the re-embed is running: the
        # hook returns once it is indexed, so its chunks exist before the re-embed can switch
        # (a document still queued at the switch is simply ingested with the new model later).
        doc = await service.add_document(owner, kb_id, "new.md", b"# New\n\nAdded meanwhile.")
        added.append(doc.id)
        for _ in range(1200):  # the worker's progress is in the database: poll it (60 s)
            if (await service.get_document(owner, kb_id, doc.id)).status == "indexed":
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the document uploaded meanwhile was not indexed")

    models.on_new_batch = upload_meanwhile
    async with asyncio.timeout(60):
        result = await service.reembed(owner, kb_id, NEW)

    assert added
    assert (await service.get_document(owner, kb_id, added[0])).status == "indexed"
    async with service.db.session() as session:
        total = len(
            list(await session.scalars(select(Chunk.id).where(Chunk.knowledge_base_id == kb_id)))
        )
    assert result.chunks == total == len(DOCS) + 1
    assert await _dimensions(service.db, kb_id) == {32}


async def test_a_job_that_embedded_with_the_old_model_is_queued_again(
    migrated_db: Database,
) -> None:
    models = _Models()
    service = KnowledgeService(migrated_db, embeddings=models)  # worker not started
    owner = await service.ensure_user("owner@example.com")
    kb = await service.create_knowledge_base(owner, "kb", embedding_model=OLD)
    doc = await service.add_document(owner, kb.id, "a.md", b"# A\n\nSome text.")
    job = await claim_next_job(migrated_db)
    assert job is not None
    assert job.embedding_model == OLD
    await update_job(migrated_db, job, status="embedding")
    # The switch commits while this job is still embedding with the old model.
    async with migrated_db.transaction() as session:
        await session.execute(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == kb.id)
            .values(embedding_model=NEW, embedding_dim=32)
        )
    record = ChunkRecord(
        id="c" * 32,
        document_id=doc.id,
        document_title="A",
        chunk_index=0,
        text="Some text.",
        heading="A",
        embedding=np.ones(64, dtype=np.float32) / 8,
    )

    assert await finish_job(migrated_db, job, [record], 64) is None

    async with migrated_db.session() as session:
        stored = await session.get(Document, doc.id)
        assert stored is not None
        assert (stored.status, stored.attempts) == ("queued", 0)
        assert await session.scalar(select(Chunk.id).where(Chunk.document_id == doc.id)) is None
    await service.worker.run_until_idle()  # now ingested with the new model
    assert (await service.get_document(owner, kb.id, doc.id)).status == "indexed"
    assert await _dimensions(migrated_db, kb.id) == {32}
    await service.close()


async def test_reembed_refuses_unknown_models_and_other_owners(
    setup: tuple[KnowledgeService, _Models, str],
) -> None:
    service, _models, owner = setup
    kb_id, _ids = await _kb_with_docs(service, owner)
    stranger = await service.ensure_user("stranger@example.com")

    with pytest.raises(InputValidationError) as unknown:
        await service.reembed(owner, kb_id, "no-such-model")
    assert unknown.value.field == "embedding_model"
    with pytest.raises(NotFoundError):
        await service.reembed(stranger, kb_id, NEW)
    info = await service.get_knowledge_base(owner, kb_id)
    assert (info.embedding_model, info.embedding_dim) == (OLD, 64)
    assert await _dimensions(service.db, kb_id) == {64}
