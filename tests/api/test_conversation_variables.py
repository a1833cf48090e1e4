"""Conversation variables over HTTP: kept per chat session across turns, isolated between
sessions, kept across a server restart, written only by successful turns, every write in the
run record, and shown with the session."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from snapagent.api.app import create_app

from .conftest import ApiUser
from .test_chat_api import CHAT
from .test_flow_nodes_chat import _publish


def counter_graph() -> dict[str, Any]:
    """Counts turns and remembers the topics asked about; answers with both."""
    return {
        "conversation_variables": [
            {"name": "turns", "type": "integer", "default": 0},
            {"name": "topics", "type": "array[string]", "default": []},
        ],
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "remember", "type": "variable_assigner",
             "config": {"items": [{"variable": "turns", "operation": "increment"},
                                  {"variable": "topics", "operation": "append", "input": "q"}]},
             "inputs": {"q": {"selector": ["start", "query"]}}},
            {"id": "say", "type": "template",
             "config": {"template": "turn {{ n }}: {{ topics | join(', ') }}"},
             "inputs": {"n": {"selector": ["conversation", "turns"]},
                        "topics": {"selector": ["conversation", "topics"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "remember", "target": "say"},
            {"source": "say", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }  # fmt: skip


async def _ask(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, message: str, session: str
) -> dict[str, Any]:
    response = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": message, "session_id": session},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_variables_persist_per_session_and_across_a_restart(
    client: httpx.AsyncClient, alice: ApiUser, app: FastAPI
) -> None:
    bot_id = await _publish(client, alice, counter_graph())

    assert (await _ask(client, alice, bot_id, "refunds", "s1"))["answer"] == "turn 1: refunds"
    assert (await _ask(client, alice, bot_id, "invoices", "s1"))["answer"] == (
        "turn 2: refunds, invoices"
    )
    # Another session starts from the defaults: nothing leaks between sessions.
    assert (await _ask(client, alice, bot_id, "shipping", "s2"))["answer"] == "turn 1: shipping"

    # A new server process on the same database (the app's state is rebuilt from scratch).
    state = app.state.snapagent
    restarted = create_app(
        state.settings,
        state.database,
        core_settings=state.core_settings,
        knowledge=state.knowledge,
    )
    transport = httpx.ASGITransport(app=restarted, raise_app_exceptions=False)
    async with (
        restarted.router.lifespan_context(restarted),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as again,
    ):
        third = await _ask(again, alice, bot_id, "returns", "s1")
        assert third["answer"] == "turn 3: refunds, invoices, returns"
        transcript = await again.get(f"/api/v1/bots/{bot_id}/sessions/s1", headers=alice.headers)
    assert transcript.json()["variables"] == {
        "turns": 3,
        "topics": ["refunds", "invoices", "returns"],
    }

    run = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions/{third['run_id']}", headers=alice.headers
    )
    remember = next(n for n in run.json()["nodes"] if n["node_id"] == "remember")
    assert remember["outputs"]["written"] == [
        {"variable": "turns", "operation": "increment", "value": 3},
        {"variable": "topics", "operation": "append",
         "value": ["refunds", "invoices", "returns"]},
    ]  # fmt: skip


async def test_a_failed_turn_keeps_the_previous_values(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    graph = counter_graph()
    # The template fails on a question containing "boom", after the assigner wrote.
    graph["nodes"][2]["config"]["template"] = (
        "{% if 'boom' in q %}{{ q.no.such.thing }}{% endif %}turn {{ n }}"
    )
    graph["nodes"][2]["inputs"]["q"] = {"selector": ["start", "query"]}
    graph["nodes"][2]["inputs"].pop("topics")
    bot_id = await _publish(client, alice, graph)

    assert (await _ask(client, alice, bot_id, "one", "s"))["answer"] == "turn 1"
    failed = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "boom", "session_id": "s"}, headers=alice.headers
    )
    assert failed.status_code >= 400
    assert (await _ask(client, alice, bot_id, "two", "s"))["answer"] == "turn 2"
