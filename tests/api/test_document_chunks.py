"""A document's chunks over HTTP: every chunk once, in reading order, page by page, with its
text, heading path, token count and place in the extracted text - never its embedding; another
account's ids are 404 and a cursor the API did not return is 422. Runs on SQLite and PostgreSQL
(``migrated_db`` is parametrized by the root conftest)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from typing import Any

import httpx

from snapagent.services.knowledge import KnowledgeService

from .conftest import ApiUser, assert_problem, create_knowledge_base
from .test_list_pages import every_page

PARAGRAPHS = [
    f"Paragraph {i} explains step {i} of the refund process in enough words to fill a chunk."
    for i in range(8)
]
GUIDE = (
    "# Refunds\n\n"
    + "\n\n".join(PARAGRAPHS[:4])
    + "\n\n## Late refunds\n\n"
    + "\n\n".join(PARAGRAPHS[4:])
    + "\n"
).encode()
CHUNK_KEYS = {"id", "chunk_index", "text", "heading", "token_count", "char_start", "char_end"}


def _forged(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def _indexed_document(
    client: httpx.AsyncClient, user: ApiUser, knowledge: KnowledgeService
) -> tuple[str, str]:
    """A knowledge base of ``user`` with small chunks and one indexed document: (kb, document)."""
    kb = await client.post(
        "/api/v1/knowledge-bases",
        json={"name": "guide", "chunk_max_tokens": 24, "chunk_overlap_tokens": 0},
        headers=user.headers,
    )
    assert kb.status_code == 201, kb.text
    kb_id = kb.json()["id"]
    uploaded = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("refunds.md", GUIDE, "text/markdown")},
        headers=user.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    async with asyncio.timeout(60):
        (doc,) = await knowledge.wait_for_documents([uploaded.json()["id"]])
    assert doc.status == "indexed", doc.error
    return kb_id, doc.id


async def test_every_chunk_once_in_reading_order(
    client: httpx.AsyncClient, alice: ApiUser, api_knowledge: KnowledgeService
) -> None:
    kb_id, doc_id = await _indexed_document(client, alice, api_knowledge)
    path = f"/api/v1/knowledge-bases/{kb_id}/documents/{doc_id}/chunks"
    whole = (await client.get(path, headers=alice.headers)).json()
    assert whole["next_cursor"] is None
    chunks = whole["data"]
    document = (await client.get(path.removesuffix("/chunks"), headers=alice.headers)).json()
    assert len(chunks) == document["chunks_total"] >= 4  # small chunks: several of them

    items, pages = await every_page(client, alice, path, limit=3)
    assert items == chunks
    assert pages == -(-len(chunks) // 3)
    assert [c["chunk_index"] for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert set(chunk) == CHUNK_KEYS  # no embedding
        assert chunk["token_count"] > 0
        assert chunk["char_end"] - chunk["char_start"] == len(chunk["text"])
    assert all(a["char_end"] <= b["char_start"] for a, b in itertools.pairwise(chunks))
    for paragraph in PARAGRAPHS:  # without overlap, every paragraph is in some chunk's text
        assert any(paragraph in c["text"] for c in chunks), paragraph
    assert chunks[0]["heading"] == "Refunds"
    assert chunks[-1]["heading"] == "Refunds > Late refunds"


async def test_other_accounts_ids_are_404_and_bad_pages_422(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, api_knowledge: KnowledgeService
) -> None:
    kb_id, doc_id = await _indexed_document(client, alice, api_knowledge)
    own = f"/api/v1/knowledge-bases/{kb_id}/documents/{doc_id}/chunks"
    bobs_kb = await create_knowledge_base(client, bob, "bob's")
    for path in (
        own,  # Alice's knowledge base and document
        f"/api/v1/knowledge-bases/{bobs_kb}/documents/{doc_id}/chunks",  # Alice's document
    ):
        body = assert_problem(await client.get(path, headers=bob.headers), 404)
        assert "Paragraph" not in json.dumps(body)
    other_kb = await create_knowledge_base(client, alice, "other")
    for path in (
        f"/api/v1/knowledge-bases/{other_kb}/documents/{doc_id}/chunks",  # not in that KB
        f"/api/v1/knowledge-bases/{kb_id}/documents/nope/chunks",
    ):
        assert_problem(await client.get(path, headers=alice.headers), 404)
    assert (await client.get(own)).status_code == 401

    first = (await client.get(own, params={"limit": 1}, headers=alice.headers)).json()
    assert first["next_cursor"] is not None
    for cursor in (
        "not a cursor",
        _forged(["x"]),  # a string where a position goes
        _forged([1, 2]),
        _forged([2**31]),  # no INTEGER holds it
        _forged({"a": 1}),
        "A" * 1001,
    ):
        response = await client.get(own, params={"cursor": cursor}, headers=alice.headers)
        assert "cursor" in json.dumps(assert_problem(response, 422)), cursor
    for limit in ("0", "101", "many"):
        response = await client.get(own, params={"limit": limit}, headers=alice.headers)
        assert "limit" in json.dumps(assert_problem(response, 422))
    # Bob's cursor-holding request still gets nothing of Alice's.
    stolen = await client.get(own, params={"cursor": first["next_cursor"]}, headers=bob.headers)
    assert_problem(stolen, 404)


async def test_a_deleted_documents_chunks_are_gone(
    client: httpx.AsyncClient, alice: ApiUser, api_knowledge: KnowledgeService
) -> None:
    kb_id, doc_id = await _indexed_document(client, alice, api_knowledge)
    path = f"/api/v1/knowledge-bases/{kb_id}/documents/{doc_id}/chunks"
    deleted = await client.delete(path.removesuffix("/chunks"), headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(path, headers=alice.headers), 404)
