"""One list shape everywhere: ``{"data": [...], "next_cursor"}``, keyset pages over HTTP.

Paging a list visits every item once, in the list's order, even when items are added or
removed between pages; a cursor that is not one the API returned (forged, another list's,
oversized) is a 422 naming ``cursor``; the limit is bounded; and an owner's filter applies on
every page, so a cursor never leads into another account's items."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from .conftest import ApiUser, assert_problem, create_knowledge_base
from .test_chat_api import CHAT
from .test_conversation_variables import counter_graph
from .test_debug_runs import new_bot, publish, save_draft

LISTS_OF_ALICE = ("/api/v1/bots", "/api/v1/knowledge-bases", "/api/v1/api-keys")


async def every_page(
    client: httpx.AsyncClient, user: ApiUser, path: str, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list, page by page; and how many pages it took."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        assert len(body["data"]) <= limit
        items += body["data"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


async def test_bots_page_newest_first_without_skips_or_repeats(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    created = [await new_bot(client, alice, f"bot {i}") for i in range(5)]
    await new_bot(client, bob, "bob's")

    items, pages = await every_page(client, alice, "/api/v1/bots", limit=2)
    assert [b["id"] for b in items] == created[::-1]
    assert pages == 3
    whole = (await client.get("/api/v1/bots", headers=alice.headers)).json()
    assert [b["id"] for b in whole["data"]] == created[::-1]
    assert whole["next_cursor"] is None

    # Items added or removed between two pages: the next page goes on after the last item seen.
    first = (await client.get("/api/v1/bots?limit=2", headers=alice.headers)).json()
    assert [b["id"] for b in first["data"]] == [created[4], created[3]]
    await new_bot(client, alice, "newer")  # before the page boundary: not on later pages
    deleted = await client.delete(f"/api/v1/bots/{created[2]}", headers=alice.headers)
    assert deleted.status_code == 204
    rest = await client.get(
        "/api/v1/bots", params={"limit": 10, "cursor": first["next_cursor"]}, headers=alice.headers
    )
    assert [b["id"] for b in rest.json()["data"]] == [created[1], created[0]]

    # Bob pages through his own bots only, whoever's cursor he sends.
    bobs = await client.get(
        "/api/v1/bots", params={"cursor": first["next_cursor"]}, headers=bob.headers
    )
    assert bobs.json() == {"data": [], "next_cursor": None}


async def test_versions_page_the_draft_first_then_newest(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    for _ in range(3):
        await publish(client, alice, bot_id, counter_graph())
    await save_draft(client, alice, bot_id, counter_graph())
    path = f"/api/v1/bots/{bot_id}/workflow-versions"

    items, pages = await every_page(client, alice, path, limit=1)
    assert [(v["status"], v["version_number"]) for v in items] == [
        ("draft", None),
        ("published", 3),
        ("archived", 2),
        ("archived", 1),
    ]
    assert pages == 4


async def test_sessions_and_documents_page_too(client: httpx.AsyncClient, alice: ApiUser) -> None:
    bot_id = await new_bot(client, alice)
    await publish(client, alice, bot_id, counter_graph())
    for name in ("s1", "s2", "s3"):
        chat = await client.post(
            CHAT,
            json={"bot_id": bot_id, "message": "hi", "session_id": name},
            headers=alice.headers,
        )
        assert chat.status_code == 200, chat.text
    items, pages = await every_page(client, alice, f"/api/v1/bots/{bot_id}/sessions", limit=2)
    assert [s["session_id"] for s in items] == ["s3", "s2", "s1"]  # most recently active first
    assert pages == 2

    kb_id = await create_knowledge_base(client, alice, "pages")
    uploaded = []
    for i in range(3):
        response = await client.post(
            f"/api/v1/knowledge-bases/{kb_id}/documents",
            files={"file": (f"doc{i}.md", f"# Doc {i}\n\nText number {i}.".encode())},
            headers=alice.headers,
        )
        assert response.status_code == 201, response.text
        uploaded.append(response.json()["id"])
    documents = f"/api/v1/knowledge-bases/{kb_id}/documents"
    items, pages = await every_page(client, alice, documents, limit=2)
    assert [d["id"] for d in items] == uploaded  # oldest first
    assert pages == 2


def _forged(values: list[Any]) -> str:
    raw = json.dumps(values).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BY_TIME = ("/api/v1/bots", "/api/v1/api-keys")  # ordered by a time, then an id


@pytest.mark.parametrize(
    ("cursor", "paths"),
    [
        ("not a cursor", LISTS_OF_ALICE),
        ("%%%", LISTS_OF_ALICE),
        (_forged(["2026-01-01T00:00:00+00:00"]), LISTS_OF_ALICE),  # one key short
        (_forged([1, "x"]), LISTS_OF_ALICE),  # a number where a time or a name goes
        (_forged({"a": 1}), LISTS_OF_ALICE),  # type: ignore[arg-type]
        (_forged(["2026-01-01T00:00:00+00:00", "x", "y"]), LISTS_OF_ALICE),
        ("A" * 1001, LISTS_OF_ALICE),
        (_forged(["2026-01-01T00:00:00", "x"]), BY_TIME),  # a time without a zone
    ],
)
async def test_cursors_the_api_did_not_return_are_422(
    client: httpx.AsyncClient, alice: ApiUser, cursor: str, paths: tuple[str, ...]
) -> None:
    for path in paths:
        body = assert_problem(
            await client.get(path, params={"cursor": cursor}, headers=alice.headers), 422
        )
        assert "cursor" in json.dumps(body)


async def test_another_lists_cursor_and_bad_limits_are_422(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    await new_bot(client, alice, "second")
    bots_cursor = (await client.get("/api/v1/bots?limit=1", headers=alice.headers)).json()[
        "next_cursor"
    ]
    assert bots_cursor is not None
    versions = f"/api/v1/bots/{bot_id}/workflow-versions"
    # Another list's cursor, and version ranks no INTEGER column holds (PostgreSQL would refuse
    # them as parameters).
    for cursor in (bots_cursor, _forged([2**31]), _forged([-(2**31)]), _forged([2**70])):
        wrong = await client.get(versions, params={"cursor": cursor}, headers=alice.headers)
        assert "cursor" in json.dumps(assert_problem(wrong, 422))

    for limit in ("0", "101", "-1", "many"):
        for path in (*LISTS_OF_ALICE, versions, f"/api/v1/bots/{bot_id}/sessions"):
            response = await client.get(path, params={"limit": limit}, headers=alice.headers)
            assert "limit" in json.dumps(assert_problem(response, 422))
