"""Hostile input over HTTP: oversized and malformed bodies, SQL fragments, template syntax in
messages and knowledge documents, path traversal in upload names.

What must hold, on SQLite and PostgreSQL: no 5xx (every refusal is problem+json); hostile
strings are stored and answered as the literal text they are (never run as SQL, never rendered
as a template); nothing lands outside the data directory or under a name that is a path.
(`tests/api/test_schemathesis.py` fuzzes every operation of the OpenAPI schema as well.)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import inspect, select

from api.conftest import ApiUser, assert_problem, create_knowledge_base
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.knowledge import Chunk, Document
from snapagent.db.session import Database
from snapagent.settings import CoreSettings

CHAT = "/api/v1/chat"
SQL = "'; DROP TABLE chat_messages; -- \" OR 1=1; SELECT pg_sleep(30); /*"
TEMPLATE = "{{ 7*7 }} {% for x in range(3) %}loop{% endfor %} {{ config }} {# c #}"

# start -> template("You said: {{ query }}") -> end: the answer shows what the template saw.
ECHO_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "start", "config": {}},
        {"id": "echo", "type": "template", "config": {"template": "You said: {{ query }}"}},
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [
        {"source": "start", "source_port": "query", "target": "echo", "target_port": "query"},
        {"source": "echo", "source_port": "text", "target": "end", "target_port": "answer"},
    ],
}


async def _published_bot(client: httpx.AsyncClient, user: ApiUser, graph: dict[str, Any]) -> str:
    bot = (await client.post("/api/v1/bots", json={"name": SQL}, headers=user.headers)).json()
    versions = f"/api/v1/bots/{bot['id']}/workflow-versions"
    draft = (await client.get(versions, headers=user.headers)).json()["data"][0]
    body = {"graph": graph, "revision": draft["revision"]}
    saved = await client.put(f"{versions}/{draft['id']}", json=body, headers=user.headers)
    assert saved.status_code == 200, saved.text
    published = await client.post(f"{versions}/{draft['id']}/publish", headers=user.headers)
    assert published.status_code == 200, published.text
    return str(bot["id"])


async def test_oversized_and_malformed_bodies_are_4xx_problems(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    json_headers = {**alice.headers, "content-type": "application/json"}
    cases = [
        (b"x" * (2 * 1024 * 1024), {413}),  # over the JSON body limit
        (b'{"bot_id": "b", "message": ', {400, 422}),  # cut short
        (b"\xff\xfe not utf-8 \x00", {400, 422}),
        (b"[" * 50_000 + b"]" * 50_000, {400, 422}),  # deeply nested
        (b'{"bot_id": {"$ne": null}, "message": ["a"]}', {422}),  # wrong types
        (b"null", {422}),
    ]
    for body, statuses in cases:
        response = await client.post(CHAT, content=body, headers=json_headers)
        assert response.status_code in statuses, (body[:40], response.text)
        assert_problem(response, response.status_code)
    form = await client.post(CHAT, data={"bot_id": "x"}, headers=alice.headers)
    assert_problem(form, 422)
    huge_message = {"bot_id": "x", "message": "m" * 20_000}
    assert_problem(await client.post(CHAT, json=huge_message, headers=alice.headers), 422)


@pytest.mark.parametrize("stream", [False, True])
async def test_sql_and_template_syntax_in_messages_stay_literal_text(
    client: httpx.AsyncClient, alice: ApiUser, migrated_db: Database, stream: bool
) -> None:
    bot_id = await _published_bot(client, alice, ECHO_GRAPH)
    message = f"{SQL} {TEMPLATE}"
    payload = {"bot_id": bot_id, "message": message, "session_id": "hostile", "stream": stream}
    response = await client.post(CHAT, json=payload, headers=alice.headers)
    assert response.status_code == 200, response.text
    expected = f"You said: {message}"
    if stream:
        assert f'"answer":{_json(expected)}' in response.text
    else:
        assert response.json()["answer"] == expected  # not "49", not "looplooploop"
    for bad_session in (SQL, "../../etc", "a\x00b"):
        bad = {"bot_id": bot_id, "message": "hi", "session_id": bad_session}
        assert_problem(await client.post(CHAT, json=bad, headers=alice.headers), 422)
    listed = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions", params={"limit": SQL}, headers=alice.headers
    )
    assert_problem(listed, 422)

    async with migrated_db.session() as session:
        stored = list(await session.scalars(select(ChatMessageRecord.content)))
        tables = await session.run_sync(lambda s: inspect(s.connection()).get_table_names())
    assert stored == [message, expected]
    assert "chat_messages" in tables
    bot = await client.get(f"/api/v1/bots/{bot_id}", headers=alice.headers)
    assert bot.json()["name"] == SQL


def _json(text: str) -> str:
    return json.dumps(text, ensure_ascii=False, separators=(",", ":"))


async def test_template_syntax_in_knowledge_documents_is_stored_and_retrieved_verbatim(
    client: httpx.AsyncClient, alice: ApiUser, migrated_db: Database
) -> None:
    kb_id = await create_knowledge_base(client, alice, "hostile")
    # Plain text: Markdown parsing would (rightly) read the * of 7*7 as emphasis.
    text = f"Rules\n\nRefunds take 14 days. {TEMPLATE} {SQL}\n"
    upload = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("rules.txt", text.encode(), "text/plain")},
        headers=alice.headers,
    )
    assert upload.status_code == 201, upload.text
    doc_id = upload.json()["id"]
    await _indexed(client, alice, kb_id, doc_id)
    hits = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/query",
        json={"query": "refunds 14 days", "top_k": 3},
        headers=alice.headers,
    )
    assert hits.status_code == 200, hits.text
    assert "{{ 7*7 }}" in hits.text
    assert "{% for x in range(3) %}" in hits.text
    async with migrated_db.session() as session:
        chunks = " ".join(await session.scalars(select(Chunk.text)))
    assert "{{ 7*7 }}" in chunks
    assert "DROP TABLE chat_messages" in chunks


async def _indexed(client: httpx.AsyncClient, user: ApiUser, kb_id: str, doc_id: str) -> None:
    async with asyncio.timeout(60):
        while True:
            doc = await client.get(
                f"/api/v1/knowledge-bases/{kb_id}/documents/{doc_id}", headers=user.headers
            )
            if doc.json()["status"] in {"indexed", "failed"}:
                assert doc.json()["status"] == "indexed", doc.text
                return
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "filename",
    ["../../etc/passwd", "/etc/passwd", "..\\..\\windows\\win.ini", "a\x00b.txt", "..", "\x7f\n"],
)
async def test_path_traversal_in_upload_names_stores_a_plain_name_only(
    client: httpx.AsyncClient,
    alice: ApiUser,
    migrated_db: Database,
    core_settings: CoreSettings,
    filename: str,
) -> None:
    kb_id = await create_knowledge_base(client, alice, "uploads")
    before = _files_under(core_settings.data_dir)
    response = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": (filename, f"content of {filename!r}".encode(), "text/plain")},
        headers=alice.headers,
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
    async with migrated_db.session() as session:
        names = list(await session.scalars(select(Document.filename)))
    for name in names:  # a display name without separators or controls (never used as a path)
        assert "/" not in name
        assert "\\" not in name
        assert not any(ord(c) < 32 or ord(c) == 127 for c in name)
        assert name
    # The original is kept in the database: no file appears anywhere under the data dir.
    assert _files_under(core_settings.data_dir) == before


def _files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()
