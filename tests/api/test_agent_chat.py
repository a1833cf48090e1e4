"""A chat with an agent bot: its knowledge tool's documents are the answer's sources, its text
streams as `text` events that join into the answer, and the record holds every tool call."""

from __future__ import annotations

import asyncio

import httpx

from snapagent.services.knowledge import KnowledgeService

from .conftest import ApiUser, create_knowledge_base
from .test_agent_workflow_tools import new_bot, publish, runs
from .test_chat_api import CHAT, parse_sse


async def test_an_agent_answers_with_sources_streams_and_is_recorded(
    client: httpx.AsyncClient, alice: ApiUser, api_knowledge: KnowledgeService
) -> None:
    kb_id = await create_knowledge_base(client, alice, "policies")
    uploaded = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("refunds.md", b"# Refunds\n\nRefunds are paid within 30 days.\n",
                        "text/markdown")},
        headers=alice.headers,
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    async with asyncio.timeout(60):
        await api_knowledge.wait_for_documents([uploaded.json()["id"]])
    tool = {"type": "knowledge", "knowledge_base_ids": [kb_id], "name": "search_policies",
            "description": "Search the refund policies"}  # fmt: skip
    graph = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "agent", "type": "agent", "config": {"model": "offline", "tools": [tool]},
             "inputs": {"query": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [{"source": "agent", "source_port": "text", "target": "end",
                   "target_port": "answer"}],
    }  # fmt: skip
    bot = await new_bot(client, alice, "support")
    await publish(client, alice, bot, graph)
    question = {"bot_id": bot, "message": "What are the refund policies?"}

    answered = await client.post(CHAT, json=question, headers=alice.headers)
    streamed = await client.post(CHAT, json={**question, "stream": True}, headers=alice.headers)

    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert "Refunds are paid within 30 days." in body["answer"]
    assert [s["knowledge_base_id"] for s in body["sources"]] == [kb_id]
    assert "Refunds are paid" in body["sources"][0]["snippet"]
    events = parse_sse(streamed.text)
    text = "".join(data["text"] for name, data in events if name == "text")
    [message] = [data for name, data in events if name == "message"]
    assert text == message["answer"] == body["answer"]
    run = (await runs(client, alice, bot))[0]
    detail = await client.get(
        f"/api/v1/bots/{bot}/workflow-executions/{run['id']}", headers=alice.headers
    )
    [agent] = [n for n in detail.json()["nodes"] if n["node_type"] == "agent"]
    [call] = agent["outputs"]["tool_calls"]
    assert (call["name"], call["arguments"]) == ("search_policies", {"query": question["message"]})
