"""KnowledgeService use cases: ownership, validation, duplicates, knowledge base lifecycle."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from snapagent.db.models.knowledge import Chunk, Document, DocumentFile
from snapagent.db.session import Database
from snapagent.errors import (
    ConflictError,
    InputValidationError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaError,
)
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.services.knowledge import KnowledgeService

TEXT = b"# Refunds\n\nRefunds are paid within 14 days of the return."


async def _count(service: KnowledgeService, model: type) -> int:
    async with service.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_knowledge_bases_are_private_to_their_owner(
    knowledge_service: KnowledgeService,
) -> None:
    alice = await knowledge_service.ensure_user("alice@example.com")
    bob = await knowledge_service.ensure_user("bob@example.com")
    kb = await knowledge_service.create_knowledge_base(alice, "shop", description="shop faq")
    doc = await knowledge_service.add_document(alice, kb.id, "refunds.md", TEXT)

    # Bob may reuse the name, but sees nothing of Alice's.
    await knowledge_service.create_knowledge_base(bob, "shop")
    assert [k.name for k in await knowledge_service.list_knowledge_bases(bob)] == ["shop"]
    for call in (
        knowledge_service.get_knowledge_base(bob, kb.id),
        knowledge_service.list_documents(bob, kb.id),
        knowledge_service.get_document(bob, kb.id, doc.id),
        knowledge_service.delete_document(bob, kb.id, doc.id),
        knowledge_service.retry_document(bob, kb.id, doc.id),
        knowledge_service.add_document(bob, kb.id, "x.txt", b"hello"),
        knowledge_service.query(bob, [kb.id], "refund"),
        knowledge_service.delete_knowledge_base(bob, kb.id),
    ):
        with pytest.raises(NotFoundError):
            await call
    assert (await knowledge_service.get_knowledge_base(alice, "shop")).id == kb.id
    assert (await knowledge_service.get_knowledge_base(alice, kb.id)).document_count == 1


async def test_create_validates_names_models_and_chunk_sizes(
    knowledge_service: KnowledgeService,
) -> None:
    owner = await knowledge_service.ensure_user("o@example.com")
    await knowledge_service.create_knowledge_base(owner, "docs")
    with pytest.raises(ConflictError):
        await knowledge_service.create_knowledge_base(owner, "docs")
    with pytest.raises(InputValidationError) as blank:
        await knowledge_service.create_knowledge_base(owner, "  \n ")
    assert blank.value.field == "name"
    with pytest.raises(InputValidationError) as model:
        await knowledge_service.create_knowledge_base(owner, "m", embedding_model="unknown:x")
    assert model.value.field == "embedding_model"
    with pytest.raises(InputValidationError) as overlap:
        await knowledge_service.create_knowledge_base(
            owner, "c", chunk_max_tokens=64, chunk_overlap_tokens=64
        )
    assert overlap.value.field == "chunk_overlap_tokens"
    kb = await knowledge_service.create_knowledge_base(
        owner, "custom", embedding_model="openai:bge-m3", chunk_max_tokens=128
    )
    assert (kb.embedding_model, kb.chunk_max_tokens) == ("openai:bge-m3", 128)


async def test_bad_uploads_are_refused_before_anything_is_stored(
    knowledge_service: KnowledgeService,
) -> None:
    owner = await knowledge_service.ensure_user("o@example.com")
    kb = await knowledge_service.create_knowledge_base(owner, "docs")
    limit = knowledge_service.settings.max_upload_bytes
    with pytest.raises(PayloadTooLargeError):
        await knowledge_service.add_document(owner, kb.id, "big.txt", b"a" * (limit + 1))
    with pytest.raises(UnsupportedMediaError):
        await knowledge_service.add_document(owner, kb.id, "cat.png", b"\x89PNG\r\n\x1a\n....")
    with pytest.raises(InputValidationError):
        await knowledge_service.add_document(owner, kb.id, "empty.txt", b"  \n")
    assert await _count(knowledge_service, Document) == 0
    assert await _count(knowledge_service, DocumentFile) == 0


async def test_client_filename_is_display_only(knowledge_service: KnowledgeService) -> None:
    owner = await knowledge_service.ensure_user("o@example.com")
    kb = await knowledge_service.create_knowledge_base(owner, "docs")
    doc = await knowledge_service.add_document(owner, kb.id, "../../etc/\x00passwd.txt", b"root")
    assert doc.filename == "passwd.txt"
    win = await knowledge_service.add_document(owner, kb.id, "C:\\temp\\..\\notes.md", b"# n\n\nx")
    assert win.filename == "notes.md"


async def test_retry_only_settled_documents(knowledge_service: KnowledgeService) -> None:
    await knowledge_service.close()  # keep the document queued
    owner = await knowledge_service.ensure_user("o@example.com")
    kb = await knowledge_service.create_knowledge_base(owner, "docs")
    doc = await knowledge_service.add_document(owner, kb.id, "refunds.md", TEXT)
    with pytest.raises(ConflictError):
        await knowledge_service.retry_document(owner, kb.id, doc.id)
    await knowledge_service.worker.run_until_idle()
    # Re-indexing an indexed document keeps its chunks until the new ones replace them.
    await knowledge_service.retry_document(owner, kb.id, doc.id)
    assert await _count(knowledge_service, Chunk) > 0
    await knowledge_service.worker.run_until_idle()
    assert (await knowledge_service.get_document(owner, kb.id, doc.id)).status == "indexed"


async def test_deleting_a_knowledge_base_removes_everything(
    knowledge_service: KnowledgeService,
) -> None:
    owner = await knowledge_service.ensure_user("o@example.com")
    kb = await knowledge_service.create_knowledge_base(owner, "docs")
    doc = await knowledge_service.add_document(owner, kb.id, "refunds.md", TEXT)
    async with asyncio.timeout(60):
        await knowledge_service.wait_for_documents([doc.id])
    assert await knowledge_service.query(owner, [kb.id], "refunds")
    await knowledge_service.delete_knowledge_base(owner, kb.id)
    for model in (Chunk, Document, DocumentFile):
        assert await _count(knowledge_service, model) == 0
    assert await knowledge_service.list_knowledge_bases(owner) == []
    with pytest.raises(NotFoundError):
        await knowledge_service.query(owner, [kb.id], "refunds")


async def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_KNOWLEDGE_MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("SNAPAGENT_KNOWLEDGE_VECTOR_WEIGHT", "0.5")
    settings = KnowledgeSettings()
    assert settings.max_upload_bytes == 1234
    assert settings.vector_weight == 0.5


@pytest.mark.parametrize(
    "overrides",
    [
        {"vector_weight": "heavy"},
        {"fusion_method": "magic"},
        {"vector_weight": -1},
        {"embedding_languages": "ko"},
    ],
)
async def test_bad_retrieval_settings_are_input_errors(
    knowledge_service: KnowledgeService, overrides: dict[str, object]
) -> None:
    owner = await knowledge_service.ensure_user("o@example.com")
    with pytest.raises(InputValidationError) as info:
        await knowledge_service.create_knowledge_base(owner, "kb", retrieval_settings=overrides)
    assert info.value.field == "retrieval_settings"
    good = await knowledge_service.create_knowledge_base(
        owner, "ok", retrieval_settings={"vector_weight": 0.5, "embedding_languages": ["ko"]}
    )
    assert good.name == "ok"


async def test_start_warms_the_default_embedding_model_in_the_background(
    migrated_db: Database,
) -> None:
    asked: list[str] = []
    warmed = asyncio.Event()
    loop = asyncio.get_running_loop()

    class Warmable:
        def warm_up(self) -> None:
            loop.call_soon_threadsafe(warmed.set)  # called off the event loop

    def resolve(spec: str) -> Warmable:
        asked.append(spec)
        return Warmable()

    service = KnowledgeService(migrated_db, embeddings=resolve)  # type: ignore[arg-type]
    service.start()
    try:
        await asyncio.wait_for(warmed.wait(), 10)
    finally:
        await service.close()
    assert asked == [service.settings.default_embedding_model]

    def unavailable(spec: str) -> Warmable:
        raise RuntimeError("no key for this provider")

    quiet = KnowledgeService(migrated_db, embeddings=unavailable)  # type: ignore[arg-type]
    quiet.start()  # a model that cannot be resolved is reported when it is used, not here
    await quiet.close()
