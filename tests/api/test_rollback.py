"""One-step rollback and draft deletion over HTTP, on SQLite and PostgreSQL: an earlier version
goes live again as the next number, noted in the history; racing publishes and rollbacks leave
exactly one published version; only a draft can be deleted."""

from __future__ import annotations

import asyncio

import httpx

from snapagent.testing import ScriptedChatModel

from .conftest import ApiUser, assert_problem
from .test_chat_api import CHAT
from .test_debug_runs import FIXED, broken_graph, new_bot, publish, save_draft, versions_of


def rollback_url(bot_id: str, version_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/workflow-versions/{version_id}/rollback"


async def test_a_bad_publish_is_rolled_back_in_one_step(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    good = await publish(client, alice, bot_id, broken_graph(FIXED))
    bad = await publish(client, alice, bot_id, broken_graph())
    chat = {"bot_id": bot_id, "message": "hello"}
    assert_problem(await client.post(CHAT, json=chat, headers=alice.headers), 500)

    response = await client.post(rollback_url(bot_id, good["id"]), headers=alice.headers)
    assert response.status_code == 200, response.text
    live = response.json()
    assert (live["status"], live["version_number"], live["source"]) == ("published", 3, "rollback")
    assert live["note"] == "rollback to version 1 (replacing version 2)"
    assert live["graph"] == good["graph"]
    assert live["id"] != good["id"]

    chat_model.enqueue("working again")
    answer = await client.post(CHAT, json=chat, headers=alice.headers)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["answer"], answer.json()["version"]) == ("working again", 3)
    history = await versions_of(client, alice, bot_id)
    assert [(v["version_number"], v["status"], v["source"]) for v in history] == [
        (3, "published", "rollback"),
        (2, "archived", "editor"),
        (1, "archived", "editor"),
    ]
    # Forward again: roll "back" to the bad one with a note of one's own.
    again = await client.post(
        rollback_url(bot_id, bad["id"]), json={"note": "retry v2"}, headers=alice.headers
    )
    assert (again.json()["version_number"], again.json()["note"]) == (4, "retry v2")


async def test_rollback_refusals(client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser) -> None:
    bot_id = await new_bot(client, alice)
    live = await publish(client, alice, bot_id, broken_graph(FIXED))
    draft = await save_draft(client, alice, bot_id, broken_graph())
    already = assert_problem(
        await client.post(rollback_url(bot_id, live["id"]), headers=alice.headers), 409
    )
    assert "already the live version" in already["detail"]
    never = assert_problem(
        await client.post(rollback_url(bot_id, draft["id"]), headers=alice.headers), 409
    )
    assert "never live" in never["detail"]
    assert_problem(await client.post(rollback_url(bot_id, live["id"]), headers=bob.headers), 404)
    bob_bot = await new_bot(client, bob, "bob's")
    assert_problem(await client.post(rollback_url(bob_bot, live["id"]), headers=bob.headers), 404)
    assert_problem(
        await client.post(
            rollback_url(bot_id, live["id"]), json={"note": "x" * 2001}, headers=alice.headers
        ),
        422,
    )


async def test_racing_publishes_and_rollbacks_leave_one_published_version(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    first = await publish(client, alice, bot_id, broken_graph(FIXED))
    second = await publish(client, alice, bot_id, broken_graph("{{ query }}"))
    for _round in range(3):
        draft = await save_draft(client, alice, bot_id, broken_graph("{{ query | upper }}"))
        base = f"/api/v1/bots/{bot_id}/workflow-versions"
        responses = await asyncio.gather(
            client.post(rollback_url(bot_id, first["id"]), headers=alice.headers),
            client.post(f"{base}/{draft['id']}/publish", headers=alice.headers),
            client.post(rollback_url(bot_id, second["id"]), headers=alice.headers),
            client.post(rollback_url(bot_id, first["id"]), headers=alice.headers),
        )
        for response in responses:
            assert response.status_code in (200, 409), response.text
        assert responses[1].status_code == 200  # the one publish of that draft
        history = await versions_of(client, alice, bot_id)
        published = [v for v in history if v["status"] == "published"]
        assert len(published) == 1
        numbers = sorted(v["version_number"] for v in history if v["version_number"])
        assert numbers == list(range(1, len(numbers) + 1))
        # The live version is the last one numbered.
        assert published[0]["version_number"] == numbers[-1]


async def test_only_a_draft_can_be_deleted(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    live = await publish(client, alice, bot_id, broken_graph(FIXED))
    draft = await save_draft(client, alice, bot_id, broken_graph())
    base = f"/api/v1/bots/{bot_id}/workflow-versions"
    assert_problem(await client.delete(f"{base}/{draft['id']}", headers=bob.headers), 404)
    published = assert_problem(
        await client.delete(f"{base}/{live['id']}", headers=alice.headers), 409
    )
    assert "only a draft can be deleted" in published["detail"]
    deleted = await client.delete(f"{base}/{draft['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(await client.delete(f"{base}/{draft['id']}", headers=alice.headers), 404)
    assert [v["status"] for v in await versions_of(client, alice, bot_id)] == ["published"]
    # A new draft can be made afterwards.
    created = await client.post(base, json={}, headers=alice.headers)
    assert created.status_code == 201, created.text
