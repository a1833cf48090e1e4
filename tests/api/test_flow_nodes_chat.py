"""A published bot built from the catalogue's flow nodes (classifier, extractor, answer,
aggregator) answers chats with the offline model, and every node run is in the record."""

from __future__ import annotations

from typing import Any

import httpx

from .conftest import ApiUser, assert_problem
from .test_chat_api import CHAT, parse_sse


def router_graph() -> dict[str, Any]:
    """Dify-style: the answer nodes speak; the end node has no outputs."""
    classes = [
        {"id": "billing", "name": "billing, invoices and refunds"},
        {"id": "other", "name": "anything else"},
    ]
    query = {"selector": ["start", "query"]}
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "hello", "type": "answer", "config": {"answer": "One moment. "},
             "inputs": {}},
            {"id": "route", "type": "question_classifier",
             "config": {"model": "offline", "classes": classes}, "inputs": {"query": query}},
            {"id": "extract", "type": "parameter_extractor",
             "config": {"model": "offline", "parameters": [
                 {"name": "invoice", "type": "integer", "description": "invoice number"}]},
             "inputs": {"query": query}},
            {"id": "billing", "type": "template",
             "config": {"template": "Billing will look at invoice {{ n }}."},
             "inputs": {"n": {"selector": ["extract", "invoice"]}}},
            {"id": "other", "type": "template", "config": {"template": "Sorry, billing only."}},
            {"id": "join", "type": "variable_aggregator",
             "config": {"variables": ["a", "b"], "output_type": "string"}},
            {"id": "say", "type": "answer", "config": {"answer": "{{ reply }}"}},
            {"id": "end", "type": "end", "config": {"outputs": []}},
        ],
        "edges": [
            {"source": "start", "target": "hello"},
            {"source": "route", "source_port": "billing", "target": "extract"},
            {"source": "route", "source_port": "other", "target": "other"},
            {"source": "billing", "source_port": "text", "target": "join", "target_port": "a"},
            {"source": "other", "source_port": "text", "target": "join", "target_port": "b"},
            {"source": "join", "source_port": "output", "target": "say", "target_port": "reply"},
            {"source": "say", "target": "end"},
        ],
    }  # fmt: skip


async def _publish(client: httpx.AsyncClient, user: ApiUser, graph: dict[str, Any]) -> str:
    bot = await client.post("/api/v1/bots", json={"name": "router"}, headers=user.headers)
    bot_id: str = bot.json()["id"]
    base = f"/api/v1/bots/{bot_id}/workflow-versions"
    draft = (await client.get(base, headers=user.headers)).json()["data"][0]
    saved = await client.put(
        f"{base}/{draft['id']}", json={"graph": graph, "revision": 1}, headers=user.headers
    )
    assert saved.status_code == 200, saved.text
    published = await client.post(f"{base}/{draft['id']}/publish", headers=user.headers)
    assert published.status_code == 200, published.text
    return bot_id


async def test_a_router_bot_answers_and_records_every_node(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await _publish(client, alice, router_graph())

    billing = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "Refund for invoice 7781 please"},
        headers=alice.headers,
    )
    other = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "Tell me a joke"}, headers=alice.headers
    )

    assert billing.status_code == 200, billing.text
    assert billing.json()["answer"] == "One moment. Billing will look at invoice 7781."
    assert other.json()["answer"] == "One moment. Sorry, billing only."
    run = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions/{billing.json()['run_id']}",
        headers=alice.headers,
    )
    nodes = {n["node_id"]: n for n in run.json()["nodes"]}
    assert nodes["route"]["outputs"]["class_id"] == "billing"
    assert nodes["extract"]["outputs"] == {
        "invoice": 7781,
        "is_success": True,
        "reason": "",
        "usage": nodes["extract"]["outputs"]["usage"],
    }
    assert nodes["other"]["status"] == "skipped"
    assert nodes["join"]["inputs"] == {"a": "Billing will look at invoice 7781.", "b": None}


async def test_streamed_chat_carries_only_the_answer_nodes_text(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await _publish(client, alice, router_graph())
    response = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "Tell me a joke", "stream": True},
        headers=alice.headers,
    )
    events = parse_sse(response.text)
    texts = [data for name, data in events if name == "text"]
    assert {t["node_id"] for t in texts} == {"hello", "say"}
    assert "".join(t["text"] for t in texts) == "One moment. Sorry, billing only."
    assert events[-1][1]["answer"] == "One moment. Sorry, billing only."


async def test_publishing_a_bad_router_names_each_problem(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    graph = router_graph()
    graph["nodes"][2]["config"]["classes"][1]["id"] = "not valid"
    graph["nodes"][3]["config"]["parameters"][0]["type"] = "decimal"
    bot = await client.post("/api/v1/bots", json={"name": "bad"}, headers=alice.headers)
    base = f"/api/v1/bots/{bot.json()['id']}/workflow-versions"
    report = await client.post(f"{base}/validate", json={"graph": graph}, headers=alice.headers)
    paths = {p["path"] for p in report.json()["problems"]}
    assert {"nodes[2].config.classes.1.id", "nodes[3].config.parameters.0.type"} <= paths
    draft = (await client.get(base, headers=alice.headers)).json()["data"][0]
    await client.put(
        f"{base}/{draft['id']}", json={"graph": graph, "revision": 1}, headers=alice.headers
    )
    published = await client.post(f"{base}/{draft['id']}/publish", headers=alice.headers)
    fields = {e["field"] for e in assert_problem(published, 422)["errors"]}
    assert "nodes[2].config.classes.1.id" in fields
