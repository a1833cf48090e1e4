"""Hybrid retrieval through the real ingestion path, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, text, update
from sqlalchemy.engine import Engine

from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.db.session import Database
from snapagent.errors import DefinitionError, InputValidationError, ProviderError
from snapagent.knowledge.fusion import RerankCandidate
from snapagent.knowledge.keyword import BM25Index
from snapagent.knowledge.pg_search import pg_vector_search, vector_search_sql
from snapagent.knowledge.retriever import KnowledgeRetriever, model_languages
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.services.lookup_cache import LookupCache
from snapagent.workflow.services import RetrievalQuery

DOCS = {
    "seoul.md": "# 서울\n\n서울은 대한민국의 수도이며 인구는 약 940만 명이다. "
    "한강이 도시를 가로지른다.",
    "busan.md": "# 부산\n\n부산은 대한민국 제2의 도시이자 최대의 항구 도시이다. "
    "해운대 해수욕장이 유명하다.",
    "pasta.md": "# Cooking pasta\n\nBoil salted water, add the spaghetti and cook for "
    "nine minutes.",
    "tea.md": "# Green tea\n\nSteep green tea leaves at 80 degrees for two minutes to "
    "avoid bitterness.",
}


async def _kb_with_docs(
    service: KnowledgeService, name: str = "wiki", embedding_model: str | None = None
) -> tuple[str, str, dict[str, str]]:
    owner = await service.ensure_user("reader@example.com")
    kb = await service.create_knowledge_base(owner, name, embedding_model=embedding_model)
    ids = {}
    for filename, body in DOCS.items():
        ids[filename] = (await service.add_document(owner, kb.id, filename, body.encode())).id
    async with asyncio.timeout(60):
        states = await service.wait_for_documents(list(ids.values()))
    assert {s.status for s in states} == {"indexed"}
    return owner, kb.id, ids


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
async def test_each_mode_finds_the_right_document_with_citation_fields(
    knowledge_service: KnowledgeService, mode: str
) -> None:
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)
    hits = await knowledge_service.query(owner, [kb_id], "부산 해운대 해수욕장", mode=mode, top_k=2)
    assert hits
    best = hits[0]
    assert best.document_id == ids["busan.md"]
    assert best.document_title == "부산"
    assert best.knowledge_base_id == kb_id
    assert best.heading == "부산"
    assert best.chunk_index == 0
    assert "해운대" in best.text
    assert best.chunk_id
    assert best.metadata["char_end"] > best.metadata["char_start"]
    assert len(hits) <= 2
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


async def test_english_query_and_top_k(knowledge_service: KnowledgeService) -> None:
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)
    hits = await knowledge_service.query(owner, [kb_id], "how long to steep green tea", top_k=1)
    assert [h.document_id for h in hits] == [ids["tea.md"]]


async def test_document_filter_and_score_threshold(knowledge_service: KnowledgeService) -> None:
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)
    only = [ids["seoul.md"], ids["pasta.md"]]
    for mode in ("hybrid", "vector", "keyword"):
        hits = await knowledge_service.query(
            owner,
            [kb_id],
            "대한민국 도시",
            mode=mode,
            top_k=4,
            document_ids=only,  # type: ignore[arg-type]
        )
        assert hits, mode
        assert {h.document_id for h in hits} <= set(only), mode
    everything = await knowledge_service.query(owner, [kb_id], "대한민국 도시", top_k=4)
    cut = everything[0].score
    above = await knowledge_service.query(owner, [kb_id], "대한민국 도시", score_threshold=cut)
    assert above
    assert all(h.score >= cut for h in above)
    assert len(above) < len(everything)


async def test_deleted_document_disappears_without_reloading_the_index(
    knowledge_service: KnowledgeService,
) -> None:
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)
    cache = knowledge_service.retriever.cache
    assert (await knowledge_service.query(owner, [kb_id], "해운대"))[0].document_id == ids[
        "busan.md"
    ]
    loads = cache.loads
    await knowledge_service.delete_document(owner, kb_id, ids["busan.md"])
    hits = await knowledge_service.query(owner, [kb_id], "해운대 해수욕장", mode="keyword")
    assert ids["busan.md"] not in {h.document_id for h in hits}
    # Newly indexed documents also arrive incrementally.
    doc = await knowledge_service.add_document(
        owner, kb_id, "jeju.md", "# 제주\n\n제주도는 감귤이 유명하다.".encode()
    )
    async with asyncio.timeout(60):
        await knowledge_service.wait_for_documents([doc.id])
    assert (await knowledge_service.query(owner, [kb_id], "제주 감귤"))[0].document_id == doc.id
    assert cache.loads == loads


async def test_changes_by_another_process_are_noticed(
    knowledge_service: KnowledgeService, migrated_db: Database
) -> None:
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)
    assert await knowledge_service.query(owner, [kb_id], "해운대")
    # A second process: its own engine, worker and caches on the same database.
    other_db = Database(migrated_db.url.render_as_string(hide_password=False))
    other = KnowledgeService(other_db, embeddings=knowledge_service.embeddings)
    try:
        await other.delete_document(owner, kb_id, ids["busan.md"])
        doc = await other.add_document(
            owner, kb_id, "jeju.md", "# 제주\n\n제주도는 감귤이 유명하다.".encode()
        )
        await other.worker.run_until_idle()
    finally:
        await other.close()
        await other_db.dispose()
    hits = await knowledge_service.query(owner, [kb_id], "해운대 감귤", mode="keyword", top_k=10)
    found = {h.document_id for h in hits}
    assert ids["busan.md"] not in found
    assert doc.id in found


async def test_several_knowledge_bases_in_one_query(knowledge_service: KnowledgeService) -> None:
    owner, first, _ids = await _kb_with_docs(knowledge_service, "first")
    second = await knowledge_service.create_knowledge_base(owner, "second")
    extra = await knowledge_service.add_document(
        owner, second.id, "kimchi.md", "# 김치\n\n김치는 배추를 소금에 절여 만든다.".encode()
    )
    async with asyncio.timeout(60):
        await knowledge_service.wait_for_documents([extra.id])
    hits = await knowledge_service.query(owner, [first, second.id], "배추 김치 소금", top_k=3)
    assert hits[0].document_id == extra.id
    assert hits[0].knowledge_base_id == second.id
    assert await knowledge_service.query(owner, [second.id], "해운대", mode="keyword") == []


@contextmanager
def _kb_reads(engine: Engine) -> Iterator[list[str]]:
    """Every statement on ``engine`` that reads knowledge-base rows, while inside."""
    seen: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        # The rows' own read (pgvector's search repeats the owner check inside its statement).
        if statement.lstrip().startswith("SELECT knowledge_bases.id"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def _generation_known(db: Database) -> None:
    started = time.monotonic()
    # PostgreSQL: until the listener listens.
    while db.lookup_changes.generation("knowledge_bases") is None:
        assert time.monotonic() - started < 10, "the change listener never listened"
        await asyncio.sleep(0.01)


async def test_cached_knowledge_base_rows_skip_the_read_and_follow_every_change(
    knowledge_service: KnowledgeService, migrated_db: Database
) -> None:
    retriever = knowledge_service.retriever
    retriever.rows_cache = LookupCache(
        migrated_db.lookup_changes, "knowledge_bases", max_entries=10, ttl_s=60
    )
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)
    other_db = Database(migrated_db.url.render_as_string(hide_password=False))
    async with migrated_db.lookup_changes.listening(migrated_db.engine, check_s=0.5):
        await _generation_known(migrated_db)
        stranger = await knowledge_service.ensure_user("stranger@example.com")
        mine = RetrievalQuery("해운대", [kb_id], owner_id=owner)
        assert await retriever.retrieve(mine)  # loads the row
        with _kb_reads(migrated_db.engine.sync_engine) as reads:
            assert await retriever.retrieve(mine)
            assert not reads
            # Another account naming the id: not this owner's cached row, read (and refused).
            theirs = RetrievalQuery("해운대", [kb_id], owner_id=stranger)
            assert await retriever.retrieve(theirs) == []
        assert len(reads) == 2  # the stranger's read and its deleted-or-foreign check
        # A second process changes the knowledge base (a new revision): the cached row goes.
        other = KnowledgeService(other_db, embeddings=knowledge_service.embeddings)
        try:
            await other.delete_document(owner, kb_id, ids["busan.md"])
            await other.worker.run_until_idle()
        finally:
            await other.close()
            await other_db.dispose()
        started = time.monotonic()
        while True:  # SQLite: at once; PostgreSQL: when the notification arrives
            hits = await knowledge_service.query(owner, [kb_id], "해운대 해수욕장", mode="keyword")
            if ids["busan.md"] not in {h.document_id for h in hits}:
                break
            assert time.monotonic() - started < 5, "another process's change was never seen"
            await asyncio.sleep(0.05)
        # A deleted knowledge base is gone at once for the process that deleted it.
        await knowledge_service.delete_knowledge_base(owner, kb_id)
        assert await retriever.retrieve(mine) == []


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
async def test_large_knowledge_bases_are_searched_in_one_thread_hop_with_the_same_hits(
    knowledge_service: KnowledgeService,
    migrated_db: Database,
    mode: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner, kb_id, _ids = await _kb_with_docs(knowledge_service)
    threads: list[int] = []
    search = BM25Index.search

    def noting(self: BM25Index, *args: Any, **kwargs: Any) -> list[tuple[str, float]]:
        threads.append(threading.get_ident())
        return search(self, *args, **kwargs)

    monkeypatch.setattr(BM25Index, "search", noting)
    question = RetrievalQuery("부산 해운대 해수욕장", [kb_id], mode=mode, top_k=3, owner_id=owner)
    inline = await knowledge_service.retriever.retrieve(question)  # 4 chunks: under 2,000
    hopping = KnowledgeRetriever(
        migrated_db,
        knowledge_service.embeddings,
        settings=KnowledgeSettings(inline_search_chunks=3),  # 4 chunks: over
    )
    hopped = await hopping.retrieve(question)
    assert inline
    assert [(d.chunk_id, d.score) for d in hopped] == [(d.chunk_id, d.score) for d in inline]
    if mode != "vector":
        here = threading.get_ident()
        assert threads[0] == here
        assert threads[-1] != here


class ReverseReranker:
    def __init__(self) -> None:
        self.seen: list[str] = []

    async def rerank(
        self, query: str, candidates: Sequence[RerankCandidate]
    ) -> list[tuple[str, float]]:
        self.seen = [c.id for c in candidates]
        return [*[(c.id, float(i)) for i, c in enumerate(candidates)][::-1], ("made-up", 99.0)]


async def test_rerank_hook_reorders_and_cannot_invent_ids(
    knowledge_service: KnowledgeService, migrated_db: Database
) -> None:
    owner, kb_id, _ids = await _kb_with_docs(knowledge_service)
    plain = await knowledge_service.retriever.retrieve(
        RetrievalQuery("도시 대한민국", [kb_id], top_k=4, owner_id=owner)
    )
    reranker = ReverseReranker()
    retriever = KnowledgeRetriever(migrated_db, knowledge_service.embeddings, reranker=reranker)
    reranked = await retriever.retrieve(
        RetrievalQuery("도시 대한민국", [kb_id], top_k=4, owner_id=owner)
    )
    assert reranker.seen
    assert "made-up" not in {h.chunk_id for h in reranked}
    assert reranked[0].chunk_id == reranker.seen[-1]
    assert plain[0].chunk_id == reranker.seen[0]


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "vector"])
async def test_a_query_finds_only_knowledge_bases_of_its_owner(
    knowledge_service: KnowledgeService, mode: str
) -> None:
    owner, kb_id, _ids = await _kb_with_docs(knowledge_service)
    stranger = await knowledge_service.ensure_user("stranger@example.com")
    retriever = knowledge_service.retriever
    question = "부산 해운대 해수욕장"
    mine = await retriever.retrieve(RetrievalQuery(question, [kb_id], mode=mode, owner_id=owner))
    assert mine
    assert {d.knowledge_base_id for d in mine} == {kb_id}
    # The same query for another account: the knowledge base id alone opens nothing...
    theirs = RetrievalQuery(question, [kb_id], mode=mode, owner_id=stranger)
    assert await retriever.retrieve(theirs) == []
    assert await retriever.retrieve(RetrievalQuery(question, [kb_id], owner_id="")) == []
    # ...and does not evict the owner's loaded index (no cache-churn lever on someone's KB).
    assert kb_id in retriever.cache._indexes
    again = await retriever.retrieve(RetrievalQuery(question, [kb_id], mode=mode, owner_id=owner))
    assert [d.chunk_id for d in again] == [d.chunk_id for d in mine]


@pytest.mark.postgres
async def test_postgres_vector_sql_itself_refuses_another_owners_knowledge_base(
    knowledge_service: KnowledgeService,
) -> None:
    if not knowledge_service.db.is_postgres:
        pytest.skip("PostgreSQL only")
    owner, kb_id, _ids = await _kb_with_docs(knowledge_service)
    vector = np.full(64, 0.125, dtype=np.float32)
    async with knowledge_service.db.transaction() as session:
        found = await pg_vector_search(
            session, knowledge_base_id=kb_id, owner_id=owner, vector=vector, top_k=3
        )
        stolen = await pg_vector_search(
            session, knowledge_base_id=kb_id, owner_id="someone-else", vector=vector, top_k=3
        )
    assert len(found) == 3
    assert stolen == []


async def test_bad_queries_are_input_errors_and_unknown_kbs_are_empty(
    knowledge_service: KnowledgeService,
) -> None:
    retriever = knowledge_service.retriever
    with pytest.raises(InputValidationError):
        await retriever.retrieve(RetrievalQuery("x", ["kb"], mode="fuzzy", owner_id="u"))  # type: ignore[arg-type]
    with pytest.raises(InputValidationError):
        await retriever.retrieve(RetrievalQuery("x", ["kb"], top_k=0, owner_id="u"))
    assert await retriever.retrieve(RetrievalQuery("x", ["no-such-kb"], owner_id="u")) == []
    assert await retriever.retrieve(RetrievalQuery("   ", ["no-such-kb"], owner_id="u")) == []


async def test_hybrid_falls_back_to_keywords_when_the_embedding_provider_fails(
    knowledge_service: KnowledgeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)

    async def down(text: str) -> object:
        raise ProviderError("embedding server down", provider="test")

    monkeypatch.setattr(knowledge_service.embeddings("local"), "embed_query", down)
    hits = await knowledge_service.query(owner, [kb_id], "해운대 해수욕장")
    assert hits[0].document_id == ids["busan.md"]
    with pytest.raises(ProviderError):
        await knowledge_service.query(owner, [kb_id], "해운대 해수욕장", mode="vector")


def test_model_languages_prefers_the_declaration() -> None:
    class Declares:
        languages = ("ko", "en")

    assert model_languages("local", object()) == ("en",)
    assert model_languages("local", Declares()) == ("ko", "en")
    assert model_languages("openai:bge-m3", object()) is None


async def test_hybrid_skips_vectors_for_a_language_the_model_does_not_cover(
    knowledge_service: KnowledgeService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spec "local" (all-MiniLM-L6-v2) declares English only; the test model stands in for it.
    owner, kb_id, _ids = await _kb_with_docs(knowledge_service, embedding_model="local")
    asked: list[str] = []
    model = knowledge_service.embeddings("local")
    real = model.embed_query

    async def spy(text: str) -> object:
        asked.append(text)
        return await real(text)

    monkeypatch.setattr(model, "embed_query", spy)
    korean = await knowledge_service.query(owner, [kb_id], "해운대 해수욕장")
    keyword = await knowledge_service.query(owner, [kb_id], "해운대 해수욕장", mode="keyword")
    assert asked == []
    assert [h.chunk_id for h in korean] == [h.chunk_id for h in keyword]
    await knowledge_service.query(owner, [kb_id], "green tea leaves")
    assert asked == ["green tea leaves"]


@pytest.mark.postgres
async def test_postgres_vector_search_uses_the_hnsw_index_for_the_kb_dimension(
    knowledge_service: KnowledgeService,
) -> None:
    if not knowledge_service.db.is_postgres:
        pytest.skip("PostgreSQL only")
    owner, kb_id, _ids = await _kb_with_docs(knowledge_service)
    async with knowledge_service.db.transaction() as session:
        names = set(
            await session.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename='chunks'"))
        )
        assert "ix_chunks_embedding_hnsw_64" in names  # created on first use of 64 dims
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        await session.execute(text("SET LOCAL enable_sort = off"))
        plan = "\n".join(
            await session.scalars(
                text("EXPLAIN " + vector_search_sql(64)),
                {"q": "[" + ",".join(["0.125"] * 64) + "]", "kb": kb_id, "owner": owner, "k": 3},
            )
        )
    assert "ix_chunks_embedding_hnsw_64" in plan


async def test_hybrid_survives_an_embedding_model_that_can_no_longer_be_resolved(
    knowledge_service: KnowledgeService,
) -> None:
    owner, kb_id, ids = await _kb_with_docs(knowledge_service)
    async with knowledge_service.db.transaction() as session:  # e.g. its provider was removed
        await session.execute(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == kb_id)
            .values(embedding_model="unknown:gone")
        )
    hits = await knowledge_service.query(owner, [kb_id], "green tea leaves")
    assert hits[0].document_id == ids["tea.md"]
    with pytest.raises(DefinitionError):
        await knowledge_service.query(owner, [kb_id], "green tea leaves", mode="vector")
