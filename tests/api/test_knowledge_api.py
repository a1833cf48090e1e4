"""Knowledge bases over HTTP: CRUD, upload (413/415), status and progress, retry, query."""

from __future__ import annotations

from typing import Any

import httpx

from snapagent.services.knowledge import KnowledgeService

from .conftest import TEST_UPLOAD_LIMIT, ApiUser, assert_problem, create_knowledge_base

GUIDE = b"""# Password reset

To reset your password, open Settings and choose "Forgot password".
A reset link is sent to your email and stays valid for 30 minutes.

# Billing

Invoices are issued on the first day of each month.
"""


async def _upload(
    client: httpx.AsyncClient,
    user: ApiUser,
    kb_id: str,
    data: bytes,
    filename: str = "guide.md",
    content_type: str = "text/markdown",
) -> httpx.Response:
    return await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": (filename, data, content_type)},
        headers=user.headers,
    )


async def test_knowledge_base_crud_and_ownership(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    kb_id = await create_knowledge_base(client, alice, "handbook")
    listed = (await client.get("/api/v1/knowledge-bases", headers=alice.headers)).json()
    assert [kb["id"] for kb in listed["data"]] == [kb_id]
    got = await client.get(f"/api/v1/knowledge-bases/{kb_id}", headers=alice.headers)
    assert got.json()["name"] == "handbook"
    assert got.json()["document_count"] == 0

    duplicate = await client.post(
        "/api/v1/knowledge-bases", json={"name": "handbook"}, headers=alice.headers
    )
    assert duplicate.status_code == 409

    # Bob sees nothing of Alice's knowledge base, on every route.
    assert (await client.get("/api/v1/knowledge-bases", headers=bob.headers)).json()["data"] == []
    base = f"/api/v1/knowledge-bases/{kb_id}"
    for method, path, kwargs in [
        ("GET", base, {}),
        ("DELETE", base, {}),
        ("GET", f"{base}/documents", {}),
        ("POST", f"{base}/documents", {"files": {"file": ("a.md", b"# hi", "text/markdown")}}),
        ("GET", f"{base}/documents/xyz", {}),
        ("GET", f"{base}/documents/xyz/chunks", {}),
        ("DELETE", f"{base}/documents/xyz", {}),
        ("POST", f"{base}/documents/xyz/retry", {}),
        ("POST", f"{base}/query", {"json": {"query": "password"}}),
    ]:
        response = await client.request(method, path, headers=bob.headers, **kwargs)
        assert_problem(response, 404)

    deleted = await client.delete(base, headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(base, headers=alice.headers), 404)


async def test_upload_ingest_query_retry_delete(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, api_knowledge: KnowledgeService
) -> None:
    kb_id = await create_knowledge_base(client, alice, "handbook")
    uploaded = await _upload(client, alice, kb_id, GUIDE)
    assert uploaded.status_code == 201, uploaded.text
    doc = uploaded.json()
    assert doc["status"] in {"queued", "parsing", "chunking", "embedding", "indexed"}
    assert doc["created"] is True

    await api_knowledge.wait_for_documents([doc["id"]])
    base = f"/api/v1/knowledge-bases/{kb_id}/documents"
    status = (await client.get(f"{base}/{doc['id']}", headers=alice.headers)).json()
    assert status["status"] == "indexed"
    assert status["chunks_total"] >= 1
    assert status["chunks_done"] == status["chunks_total"]
    assert status["progress"] == 1.0

    again = await _upload(client, alice, kb_id, GUIDE, filename="copy.md")
    assert again.status_code == 200  # identical content is not stored twice
    assert again.json()["id"] == doc["id"]
    assert again.json()["created"] is False

    listed = (await client.get(base, headers=alice.headers)).json()
    assert len(listed["data"]) == 1
    assert listed["next_cursor"] is None

    query = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/query",
        json={"query": "how do I reset my password", "top_k": 2},
        headers=alice.headers,
    )
    assert query.status_code == 200, query.text
    hits: list[dict[str, Any]] = query.json()["data"]
    assert hits
    assert hits[0]["document_id"] == doc["id"]
    assert "reset" in hits[0]["text"].lower()

    retried = await client.post(f"{base}/{doc['id']}/retry", headers=alice.headers)
    assert retried.status_code == 202
    assert retried.json()["status"] == "queued"
    await api_knowledge.wait_for_documents([doc["id"]])

    deleted = await client.delete(f"{base}/{doc['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert (await client.get(base, headers=alice.headers)).json()["data"] == []
    assert_problem(await client.get(f"{base}/{doc['id']}", headers=alice.headers), 404)


async def test_upload_limits_and_types(client: httpx.AsyncClient, alice: ApiUser) -> None:
    kb_id = await create_knowledge_base(client, alice, "handbook")
    # Far past the limit: refused while streaming, by the body limit.
    huge = await _upload(
        client, alice, kb_id, b"a" * (TEST_UPLOAD_LIMIT * 2), "big.txt", "text/plain"
    )
    assert_problem(huge, 413)
    # Just past the limit (inside the multipart allowance): refused by the exact file check.
    over = await _upload(
        client, alice, kb_id, b"b" * (TEST_UPLOAD_LIMIT + 10), "b.txt", "text/plain"
    )
    assert "limit" in assert_problem(over, 413)["detail"]

    binary = await _upload(
        client, alice, kb_id, b"MZ\x90\x00\x03binary", "tool.exe", "application/x-msdownload"
    )
    assert_problem(binary, 415)

    empty = await _upload(client, alice, kb_id, b"  \n", "empty.txt", "text/plain")
    assert assert_problem(empty, 422)["errors"][0]["field"] == "file"

    missing_file = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents", headers=alice.headers
    )
    assert assert_problem(missing_file, 422)["errors"][0]["field"] == "file"

    # Nothing of the refused uploads was stored.
    listed = await client.get(f"/api/v1/knowledge-bases/{kb_id}/documents", headers=alice.headers)
    assert listed.json()["data"] == []

    bad_query = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/query", json={"query": ""}, headers=alice.headers
    )
    assert assert_problem(bad_query, 422)["errors"][0]["field"] == "query"
