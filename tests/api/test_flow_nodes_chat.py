"""A published bot built from the catalogue's flow nodes (classifier, extractor, answer,
aggregator) answers chats with the offline model, and every node run is in the record."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from snapagent.nodes.settings import get_node_settings

from .conftest import ApiUser, assert_problem, create_knowledge_base
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
    assert {"nodes[2].config.classes[1].id", "nodes[3].config.parameters[0].type"} <= paths
    draft = (await client.get(base, headers=alice.headers)).json()["data"][0]
    await client.put(
        f"{base}/{draft['id']}", json={"graph": graph, "revision": 1}, headers=alice.headers
    )
    published = await client.post(f"{base}/{draft['id']}/publish", headers=alice.headers)
    fields = {e["field"] for e in assert_problem(published, 422)["errors"]}
    assert "nodes[2].config.classes[1].id" in fields


def iteration_graph() -> dict[str, Any]:
    """Split the question into words and echo each through a body of two nodes."""
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "words", "type": "parameter_extractor",
             "config": {"model": "offline", "parameters": [
                 {"name": "words", "type": "array[string]", "description": "the words"}]},
             "inputs": {"query": {"selector": ["start", "query"]}}},
            {"id": "each", "type": "iteration",
             "config": {"graph": {"nodes": [
                 {"id": "shout", "type": "template", "config": {"template": "{{ w | upper }}"},
                  "inputs": {"w": {"selector": ["each", "item"]}}},
                 {"id": "mark", "type": "template", "config": {"template": "{{ i }}:{{ s }}"},
                  "inputs": {"i": {"selector": ["each", "index"]}}}],
                 "edges": [{"source": "shout", "source_port": "text", "target": "mark",
                            "target_port": "s"}]},
                 "outputs": {"marked": ["mark", "text"]}, "parallelism": 2},
             "inputs": {"items": {"selector": ["words", "words"]}}},
            {"id": "join", "type": "template",
             "config": {"template": "{{ marked | join(' ') }}"}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "each", "source_port": "marked", "target": "join",
             "target_port": "marked"},
            {"source": "join", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }  # fmt: skip


async def test_an_iteration_bot_records_every_item(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await _publish(client, alice, iteration_graph())
    response = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "words: alpha and beta", "stream": True},
        headers=alice.headers,
    )
    events = parse_sse(response.text)
    answer = events[-1][1]
    assert answer["answer"] == "0:ALPHA 1:BETA"
    scoped = [d for name, d in events if name == "node_finished" and "scope" in d]
    assert sorted((d["node_id"], d["scope"][0][1]) for d in scoped) == [
        ("mark", 0), ("mark", 1), ("shout", 0), ("shout", 1),
    ]  # fmt: skip
    assert {tuple(d["scope"][0]) for d in scoped} == {("each", 0), ("each", 1)}

    run = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions/{answer['run_id']}", headers=alice.headers
    )
    nodes = run.json()["nodes"]
    order = [(n["node_id"], n["scope"]) for n in nodes]
    assert order == [
        ("start", None),
        ("words", None),
        ("each", None),
        ("shout", [["each", 0]]),
        ("mark", [["each", 0]]),
        ("shout", [["each", 1]]),
        ("mark", [["each", 1]]),
        ("join", None),
        ("end", None),
    ]
    assert [n["index"] for n in nodes] == list(range(9))
    assert nodes[4]["outputs"] == {"text": "0:ALPHA"}


async def test_knowledge_bases_inside_a_body_are_checked_against_the_owner(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bobs_kb = await create_knowledge_base(client, bob, "bob's notes")
    graph = iteration_graph()
    body = graph["nodes"][2]["config"]["graph"]["nodes"]
    body.append(
        {"id": "look", "type": "knowledge", "config": {"knowledge_base_ids": [bobs_kb]},
         "inputs": {"query": {"selector": ["each", "item"]}}}
    )  # fmt: skip
    bot = await client.post("/api/v1/bots", json={"name": "nosy"}, headers=alice.headers)
    base = f"/api/v1/bots/{bot.json()['id']}/workflow-versions"
    report = await client.post(f"{base}/validate", json={"graph": graph}, headers=alice.headers)
    [problem] = [p for p in report.json()["problems"] if p["code"] == "unknown_knowledge_base"]
    assert problem["path"] == "nodes[2].config.graph.nodes[2].config.knowledge_base_ids[0]"
    assert problem["node_id"] == "look"


def reader_graph() -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "read", "type": "document_extractor",
             "inputs": {"files": {"selector": ["sys", "files"]}}},
            {"id": "say", "type": "template",
             "config": {"template": "{{ files | length }} file(s): {{ text }}"},
             "inputs": {"files": {"selector": ["read", "files"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "target": "read"},
            {"source": "read", "source_port": "text", "target": "say", "target_port": "text"},
            {"source": "say", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }  # fmt: skip


async def test_files_attached_to_a_turn_are_read(client: httpx.AsyncClient, alice: ApiUser) -> None:
    bot_id = await _publish(client, alice, reader_graph())
    notes = base64.b64encode(b"# Notes\n\nThe office opens at nine.").decode()
    response = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "when do you open?",
              "files": [{"name": "notes.md", "content_type": "text/markdown", "data": notes}]},
        headers=alice.headers,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "1 file(s): Notes\n\nThe office opens at nine."

    none = await client.post(CHAT, json={"bot_id": bot_id, "message": "hi"}, headers=alice.headers)
    assert none.json()["answer"] == "0 file(s): "


async def test_too_many_or_too_large_files_are_refused(
    client: httpx.AsyncClient, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPAGENT_DOCUMENT_MAX_FILES", "1")
    monkeypatch.setenv("SNAPAGENT_DOCUMENT_MAX_BYTES", "1024")
    get_node_settings.cache_clear()
    try:
        bot_id = await _publish(client, alice, reader_graph())
        small = {"name": "a.txt", "data": base64.b64encode(b"x").decode()}
        big = {"name": "b.txt", "data": base64.b64encode(b"x" * 2000).decode()}
        two = await client.post(
            CHAT, json={"bot_id": bot_id, "message": "hi", "files": [small, small]},
            headers=alice.headers,
        )  # fmt: skip
        assert assert_problem(two, 422)["errors"][0]["field"] == "files"
        large = await client.post(
            CHAT, json={"bot_id": bot_id, "message": "hi", "files": [big]}, headers=alice.headers
        )
        assert assert_problem(large, 422)["errors"][0]["field"] == "files[0].data"
    finally:
        get_node_settings.cache_clear()
