"""Names are stored as they read: bidirectional controls and invisible characters are removed
by the one function (`snapagent.names.clean_name`) behind every schema and service that stores
a name - bots, knowledge bases, documents (title and file name) and API keys."""

from __future__ import annotations

import httpx

from .conftest import ApiUser, assert_problem

SPOOF = "invoice\u202e\u200bfdp.exe\u2066"  # displays as "invoiceexe.pdf" when rendered
CLEAN = "invoicefdp.exe"
INVISIBLE_ONLY = "\u202e\u200b\u2060 \ufeff"


async def test_every_stored_name_is_cleaned(client: httpx.AsyncClient, alice: ApiUser) -> None:
    h = alice.headers
    bot = await client.post("/api/v1/bots", json={"name": SPOOF}, headers=h)
    assert bot.status_code == 201, bot.text
    assert bot.json()["name"] == CLEAN
    renamed = await client.patch(
        f"/api/v1/bots/{bot.json()['id']}", json={"name": f"\u2067{CLEAN} 2"}, headers=h
    )
    assert renamed.json()["name"] == f"{CLEAN} 2"

    kb = await client.post("/api/v1/knowledge-bases", json={"name": SPOOF}, headers=h)
    assert kb.status_code == 201, kb.text
    assert kb.json()["name"] == CLEAN
    kb_id = kb.json()["id"]

    doc = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": (f"{SPOOF}.md", b"# Title\n\nBody text.", "text/markdown")},
        data={"title": SPOOF},
        headers=h,
    )
    assert doc.status_code in (201, 202), doc.text
    assert doc.json()["filename"] == f"{CLEAN}.md"
    assert doc.json()["title"] == CLEAN

    key = await client.post("/api/v1/api-keys", json={"name": SPOOF}, headers=h)
    assert key.status_code == 201, key.text
    listed = (await client.get("/api/v1/api-keys", headers=h)).json()["data"]
    assert [k["name"] for k in listed] == [CLEAN]


async def test_a_name_of_invisible_characters_only_is_a_422_naming_the_field(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for path in ("/api/v1/bots", "/api/v1/knowledge-bases", "/api/v1/api-keys"):
        response = await client.post(path, json={"name": INVISIBLE_ONLY}, headers=alice.headers)
        body = assert_problem(response, 422)
        assert body["errors"][0]["field"] == "name", body
        assert "visible characters" in body["errors"][0]["reason"]
