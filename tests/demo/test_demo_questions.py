"""The demo knowledge base, with the real default embedding model: every question finds its
passage first, and the offline answerer quotes the answer from it.

This is the English (and Korean) retrieval quality the demo shows; `bench/retrieval_quality.py`
reports the same questions per retrieval mode next to the previous default model.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from snapagent.db.migrate import upgrade
from snapagent.db.session import Database
from snapagent.demo.questions import DEMO_QUESTIONS, DemoQuestion
from snapagent.demo.seed import demo_documents
from snapagent.llm.offline import OfflineChatModel
from snapagent.services.knowledge import KnowledgeService
from snapagent.workflow.services import ChatMessage, ChatRequest

# Embeds with the real model, once for the module: one event loop for the fixture and the tests.
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo_kb(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[KnowledgeService, str, str, dict[str, str]]]:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    service = KnowledgeService(db)  # the product's default wiring and default model
    service.start()
    owner = await service.ensure_user("demo@example.com")
    kb = await service.create_knowledge_base(owner, "demo")
    ids = {}
    for name, data in demo_documents():
        ids[(await service.add_document(owner, kb.id, name, data)).id] = name
    async with asyncio.timeout(600):
        states = await service.wait_for_documents(list(ids))
    assert {s.status for s in states} == {"indexed"}, [s.error for s in states]
    try:
        yield service, owner, kb.id, ids
    finally:
        await service.close()
        await db.dispose()


@pytest.mark.parametrize("case", DEMO_QUESTIONS, ids=lambda q: q.question)
async def test_demo_question_is_retrieved_and_answered(
    demo_kb: tuple[KnowledgeService, str, str, dict[str, str]], case: DemoQuestion
) -> None:
    service, owner, kb_id, filenames = demo_kb
    info = await service.get_knowledge_base(owner, kb_id)
    assert info.embedding_model == "local:multilingual-e5-small"

    hits = await service.query(owner, [kb_id], case.question, top_k=4)

    assert filenames[hits[0].document_id] == case.filename
    assert case.answer in hits[0].text
    request = ChatRequest(
        messages=[ChatMessage("user", case.question)], documents=tuple(hits), query=case.question
    )
    answer = OfflineChatModel().answer(request)
    assert (case.answer in answer) is case.quoted, answer
