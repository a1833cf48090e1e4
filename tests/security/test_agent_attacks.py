"""The agent node against a real `snapagent serve`, as a hostile registered user would use it:
a knowledge tool naming another account's knowledge base is refused at validate, save and
publish, and no agent ever answers with that account's document; HTTP and MCP tools aimed at
the server itself are refused; /health keeps answering meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from security.attack import AttackServer, HealthProbe, attack_server, publish, register

SECRET = "The launch code is tangerine-4711."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    with attack_server(tmp_path_factory.mktemp("agent-attacks")) as live:
        yield live


def agent_bot(*tools: dict[str, Any]) -> dict[str, Any]:
    """start -> agent(offline model, tools) -> end(answer)."""
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "agent", "type": "agent",
             "config": {"model": "offline", "tools": list(tools)},
             "inputs": {"query": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [{"source": "agent", "source_port": "text", "target": "end",
                   "target_port": "answer"}],
    }  # fmt: skip


def knowledge(kb_id: str) -> dict[str, Any]:
    return {
        "type": "knowledge",
        "knowledge_base_ids": [kb_id],
        "name": "search_documents",
        "description": "Search the documents for the launch code",
    }


async def secret_knowledge_base(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """A knowledge base holding ``SECRET``, indexed."""
    created = await http.post("/api/v1/knowledge-bases", json={"name": "vault"}, headers=headers)
    assert created.status_code == 201, created.text
    kb_id = str(created.json()["id"])
    uploaded = await http.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("vault.txt", f"Vault\n\n{SECRET}\n".encode(), "text/plain")},
        headers=headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    document = f"/api/v1/knowledge-bases/{kb_id}/documents/{uploaded.json()['id']}"
    async with asyncio.timeout(120):
        while True:
            status = (await http.get(document, headers=headers)).json()["status"]
            if status in {"indexed", "failed"}:
                assert status == "indexed"
                return kb_id
            await asyncio.sleep(0.1)


async def chat(http: httpx.AsyncClient, headers: dict[str, str], bot: str, text: str) -> str:
    response = await http.post(
        "/api/v1/chat", json={"bot_id": bot, "message": text}, headers=headers
    )
    return response.text


async def test_a_knowledge_tool_never_reads_another_account_s_knowledge_base(
    server: AttackServer,
) -> None:
    alice = register(server, "alice-agent@example.com")
    mallory = register(server, "mallory-agent@example.com")
    question = "Search the documents for the launch code"
    async with httpx.AsyncClient(base_url=server.base, timeout=120) as http:
        vault = await secret_knowledge_base(http, alice)
        # The control: Alice's own agent finds her document, so the attack below could succeed.
        own = publish(server, alice, agent_bot(knowledge(vault)))
        assert "tangerine-4711" in await chat(http, alice, own, question)

        # Mallory names Alice's knowledge base: refused at validate, save and publish.
        bot = (await http.post("/api/v1/bots", json={"name": "thief"}, headers=mallory)).json()
        versions = f"/api/v1/bots/{bot['id']}/workflow-versions"
        stolen = agent_bot(knowledge(vault))
        report = (await http.post(f"{versions}/validate", json={"graph": stolen},
                                  headers=mallory)).json()  # fmt: skip
        assert report["valid"] is False
        assert {(p["code"], p["path"]) for p in report["problems"]} == {
            ("unknown_knowledge_base", "nodes[1].config.tools[0].knowledge_base_ids[0]")
        }
        draft = (await http.get(versions, headers=mallory)).json()["data"][0]
        saved = await http.put(
            f"{versions}/{draft['id']}",
            json={"graph": stolen, "revision": draft["revision"]},
            headers=mallory,
        )
        assert saved.status_code == 422
        assert "tangerine" not in saved.text
        with pytest.raises(httpx.HTTPStatusError) as refused:
            publish(server, mallory, stolen)
        assert refused.value.response.status_code == 422

        # Mallory's own agent, asked for Alice's secret, has nothing of it.
        empty = await secret_free_knowledge_base(http, mallory)
        thief = publish(server, mallory, agent_bot(knowledge(empty)))
        async with HealthProbe(server.base) as probe:
            answers = [await chat(http, mallory, thief, question) for _ in range(10)]
        probe.assert_responsive()
    for answer in answers:
        assert "tangerine" not in answer


async def secret_free_knowledge_base(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    created = await http.post("/api/v1/knowledge-bases", json={"name": "mine"}, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_agent_tools_cannot_call_the_server_itself(server: AttackServer) -> None:
    port = server.base.rsplit(":", 1)[1]
    mallory = register(server, "mallory-ssrf@example.com")
    http_tool = {
        "type": "http",
        "name": "list_bots",
        "description": "List the bots of the account",
        "url": f"http://localhost:{port}/api/v1/bots",
    }
    mcp_tool = {"type": "mcp", "url": f"http://localhost:{port}/mcp"}
    via_http = publish(server, mallory, agent_bot(http_tool))
    via_mcp = publish(server, mallory, agent_bot(mcp_tool))
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=60) as http,
        HealthProbe(server.base) as probe,
    ):
        answered = await http.post(
            "/api/v1/chat",
            json={"bot_id": via_http, "message": "list the bots of the account"},
            headers=mallory,
        )
        failed = await http.post(
            "/api/v1/chat", json={"bot_id": via_mcp, "message": "hi"}, headers=mallory
        )
    probe.assert_responsive()
    assert answered.status_code == 200, answered.text
    answer = answered.json()["answer"]
    assert "list_bots (failed)" in answer
    assert "refused: loopback address" in answer
    assert '"data"' not in answer  # no bot list came back
    assert failed.status_code >= 400
    assert "refused: loopback address" in failed.text
