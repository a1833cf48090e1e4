"""The agent's workflow tools in the app: another published bot of the same owner answers as a
nested run (recorded under that bot, mode ``tool``), bots calling each other stop at the depth
limit, and another account's bot is refused at validation and at run time."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from snapagent.errors import NotFoundError
from snapagent.nodes.settings import get_node_settings
from snapagent.workflow.services import BotCall

from .conftest import ApiUser, assert_problem
from .test_chat_api import CHAT


def template_bot(text: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "say", "type": "template", "config": {"template": text}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "target": "say"},
            {"source": "say", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }


def agent_bot(bot_id: str, name: str = "ask_billing") -> dict[str, Any]:
    tool = {"type": "workflow", "bot_id": bot_id, "name": name,
            "description": "Ask the billing bot about invoices"}  # fmt: skip
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "agent", "type": "agent", "config": {"model": "offline", "tools": [tool]},
             "inputs": {"query": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [{"source": "agent", "source_port": "text", "target": "end",
                   "target_port": "answer"}],
    }  # fmt: skip


async def new_bot(client: httpx.AsyncClient, user: ApiUser, name: str) -> str:
    bot = await client.post("/api/v1/bots", json={"name": name}, headers=user.headers)
    assert bot.status_code == 201, bot.text
    return str(bot.json()["id"])


async def save(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, graph: dict[str, Any]
) -> httpx.Response:
    base = f"/api/v1/bots/{bot_id}/workflow-versions"
    draft = (await client.get(base, headers=user.headers)).json()["data"][0]
    body = {"graph": graph, "revision": draft["revision"]}
    return await client.put(f"{base}/{draft['id']}", json=body, headers=user.headers)


async def publish(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, graph: dict[str, Any]
) -> None:
    saved = await save(client, user, bot_id, graph)
    assert saved.status_code == 200, saved.text
    base = f"/api/v1/bots/{bot_id}/workflow-versions"
    published = await client.post(f"{base}/{saved.json()['id']}/publish", headers=user.headers)
    assert published.status_code == 200, published.text


async def runs(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> list[dict[str, Any]]:
    listed = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions?limit=20", headers=user.headers
    )
    assert listed.status_code == 200, listed.text
    return list(listed.json()["data"])


async def front_and_billing(client: httpx.AsyncClient, user: ApiUser) -> tuple[str, str]:
    """Two published bots: ``front``'s agent asks ``billing`` (a template saying invoice 12 is
    paid) as a tool."""
    billing = await new_bot(client, user, "billing")
    await publish(client, user, billing, template_bot("Invoice 12 is paid."))
    front = await new_bot(client, user, "front")
    await publish(client, user, front, agent_bot(billing))
    return front, billing


async def test_an_agent_asks_another_bot_and_both_runs_are_recorded(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    front, billing = await front_and_billing(client, alice)

    answered = await client.post(
        CHAT,
        json={"bot_id": front, "message": "Ask the billing bot about invoice 12"},
        headers=alice.headers,
    )

    assert answered.status_code == 200, answered.text
    assert "Invoice 12 is paid." in answered.json()["answer"]
    [nested] = await runs(client, alice, billing)
    assert (nested["mode"], nested["status"]) == ("tool", "succeeded")
    detail = await client.get(
        f"/api/v1/bots/{billing}/workflow-executions/{nested['id']}", headers=alice.headers
    )
    assert detail.json()["inputs"]["caller_run_id"] == answered.json()["run_id"]
    assert [r["mode"] for r in await runs(client, alice, front)] == ["blocking"]


async def test_bots_calling_each_other_stop_at_the_depth_limit(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    ping = await new_bot(client, alice, "ping")
    pong = await new_bot(client, alice, "pong")
    await publish(client, alice, ping, agent_bot(pong))
    await publish(client, alice, pong, agent_bot(ping))
    limit = get_node_settings().agent_max_bot_depth

    answered = await client.post(
        CHAT,
        json={"bot_id": ping, "message": "Ask the billing bot about invoices"},
        headers=alice.headers,
    )

    assert answered.status_code == 200, answered.text
    assert f"only {limit} levels deep" in answered.json()["answer"]
    nested = [r for bot in (ping, pong) for r in await runs(client, alice, bot)]
    assert sorted(r["mode"] for r in nested) == ["blocking"] + ["tool"] * limit


async def test_another_account_s_bot_is_a_validation_problem(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bobs = await new_bot(client, bob, "bob's")
    await publish(client, bob, bobs, template_bot("Bob's secret"))
    mine = await new_bot(client, alice, "mine")

    for target in (bobs, "no-such-bot"):
        saved = assert_problem(await save(client, alice, mine, agent_bot(target)), 422)
        [problem] = saved["problems"]
        assert (problem["code"], problem["path"]) == (
            "unknown_bot",
            "nodes[1].config.tools[0].bot_id",
        )
        assert "belongs to another account" in problem["message"]


async def test_the_runner_refuses_another_owner_s_bot_whatever_a_graph_says(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bobs = await new_bot(client, bob, "bob's")
    await publish(client, bob, bobs, template_bot("Bob's secret"))
    unpublished = await new_bot(client, alice, "draft only")
    me = (await client.get("/api/v1/auth/me", headers=alice.headers)).json()["id"]
    runner = app.state.snapagent.runtime.services.bots

    with pytest.raises(NotFoundError, match="not found"):
        await runner.run_bot(BotCall(bobs, "secret?", owner_id=me))
    with pytest.raises(NotFoundError, match="no published version"):
        await runner.run_bot(BotCall(unpublished, "hi", owner_id=me))
    assert await runs(client, bob, bobs) == []
