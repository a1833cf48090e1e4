"""Hostile use of the OpenAI-compatible API and the MCP server, against a real `snapagent
serve` (docs/security.md): huge message arrays, deeply nested content, oversized and malformed
JSON-RPC, another account's bots named as models, tools or sessions.

What must hold: every refusal is a clear 4xx in the endpoint's own error shape (never a 5xx),
nothing of another account is listed, answered or cited, and ``/health`` answers within 200 ms
while the attacks run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from .attack import AttackServer, HealthProbe, attack_server, publish, register

COMPLETIONS = "/v1/chat/completions"
SECRET = "The launch code is periwinkle-walrus."

# start -> template -> end: the answer repeats the question, so a leak would show in it.
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


@dataclass
class Scene:
    server: AttackServer
    alice: dict[str, str]
    mallory: dict[str, str]
    alices_bot: str
    mallorys_bot: str


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    workdir: Path = tmp_path_factory.mktemp("integration-attacks")
    with attack_server(workdir) as server:
        alice = register(server, "alice@example.com")
        mallory = register(server, "mallory@example.com")
        alices_bot = publish(server, alice, ECHO_GRAPH)
        mallorys_bot = publish(server, mallory, ECHO_GRAPH)
        with httpx.Client(base_url=server.base, headers=alice, timeout=60) as http:
            renamed = http.patch(f"/api/v1/bots/{alices_bot}", json={"name": "Alice Private"})
            assert renamed.status_code == 200, renamed.text
        # Alice's conversation holds a secret.
        with httpx.Client(base_url=server.base, headers=alice, timeout=60) as http:
            body = {"model": alices_bot, "messages": [{"role": "user", "content": SECRET}]}
            answered = http.post(COMPLETIONS, json=body)
            assert answered.status_code == 200, answered.text
        yield Scene(server, alice, mallory, alices_bot, mallorys_bot)


def assert_openai_error(response: httpx.Response, statuses: set[int]) -> dict[str, Any]:
    assert response.status_code in statuses, response.text[:500]
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def _encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


@pytest.fixture
async def mallory(scene: Scene) -> AsyncIterator[httpx.AsyncClient]:
    """Mallory's client, made before any probe starts (making one costs the test's own loop
    a TLS context, which would show as a slow /health)."""
    headers = {**scene.mallory, "content-type": "application/json"}
    async with httpx.AsyncClient(base_url=scene.server.base, headers=headers, timeout=120) as http:
        yield http


async def _post(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await http.post(COMPLETIONS, content=body)


async def test_huge_message_arrays_are_refused_before_they_cost_anything(
    scene: Scene, mallory: httpx.AsyncClient
) -> None:
    tiny = {"role": "user", "content": ""}
    # Thirty times the message limit (a quarter of the body limit: decoding a full mebibyte
    # of tiny objects is the JSON decoder's cost, measured by the API's own body tests).
    many_messages = {"model": scene.mallorys_bot, "messages": [tiny] * 8_000}
    over_the_body_limit = {"model": scene.mallorys_bot, "messages": [tiny] * 80_000}
    # Within every limit but as big as they allow: 255 long earlier turns and a short question.
    long_turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "w " * 1500} for i in range(255)
    ]
    widest = {
        "model": scene.mallorys_bot,
        "messages": [*long_turns, {"role": "user", "content": "and now?"}],
    }
    # Encoded before the probe starts: the test's own loop must not hold up its probe.
    bodies = [_encode(b) for b in (many_messages, over_the_body_limit, widest)]
    async with HealthProbe(scene.server.base) as probe:
        refused = [await _post(mallory, bodies[0]) for _ in range(8)]  # probed in between
        too_big = await _post(mallory, bodies[1])
        answered = await _post(mallory, bodies[2])
    probe.assert_responsive()
    for response in refused:
        error = assert_openai_error(response, {422})
        assert error["param"] == "messages"
        assert "at most 256 messages" in error["message"]
    assert assert_openai_error(too_big, {413})["code"] == "payload_too_large"
    assert answered.status_code == 200, answered.text[:500]
    assert answered.json()["choices"][0]["message"]["content"] == "You said: and now?"


async def test_deeply_nested_content_is_a_clear_4xx(
    scene: Scene, mallory: httpx.AsyncClient
) -> None:
    depth = 60_000
    nested_array = (
        b'{"model": "' + scene.mallorys_bot.encode() + b'", "messages": [{"role": "user", '
        b'"content": ' + b"[" * depth + b"]" * depth + b"}]}"
    )
    # A text part that is an object nested as deep as the decoder takes.
    nested_text = (
        b'{"model": "' + scene.mallorys_bot.encode() + b'", "messages": [{"role": "user", '
        b'"content": [{"type": "text", "text": ' + b'{"a": ' * 500 + b"1" + b"}" * 500 + b"}]}]}"
    )
    many_parts = {
        "model": scene.mallorys_bot,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}] * 5_000}],
    }
    bodies = [nested_array, nested_text, _encode(many_parts)]
    async with HealthProbe(scene.server.base) as probe:
        rounds = []
        # Three rounds at least, and until /health was probed during them (they can be quick).
        while len(rounds) < 3 or len(probe.latencies) < 3:
            rounds.append([await _post(mallory, body) for body in bodies])
    probe.assert_responsive()
    for too_deep, text_not_a_string, too_many_parts in rounds:
        assert_openai_error(too_deep, {400, 422})
        param = assert_openai_error(text_not_a_string, {422})["param"]
        assert param == "messages[0].content[0].text"
        assert "at most 64 content parts" in assert_openai_error(too_many_parts, {422})["message"]


async def test_another_accounts_bot_is_no_model_of_mine(scene: Scene) -> None:
    async with httpx.AsyncClient(base_url=scene.server.base, timeout=60) as http:
        models = await http.get("/v1/models", headers=scene.mallory)
        assert [m["id"] for m in models.json()["data"]] == [scene.mallorys_bot]
        unknown, foreign = [
            await http.post(
                COMPLETIONS,
                json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
                headers=scene.mallory,
            )
            for model in ("0" * 32, scene.alices_bot)
        ]
    for response, model in ((unknown, "0" * 32), (foreign, scene.alices_bot)):
        error = assert_openai_error(response, {404})
        assert error["code"] == "model_not_found"
        # The same answer for a bot that does not exist and one that is someone else's.
        assert error["message"] == unknown.json()["error"]["message"].replace("0" * 32, model)


async def test_another_accounts_session_ids_reach_nothing_of_theirs(scene: Scene) -> None:
    async with httpx.AsyncClient(base_url=scene.server.base, timeout=60) as http:
        # Alice's derived session id, computed the way the server does, cannot be reached
        # from Mallory's bot: sessions belong to a bot.
        sessions = await http.get(f"/api/v1/bots/{scene.alices_bot}/sessions", headers=scene.alice)
        [alices_session] = [s["session_id"] for s in sessions.json()["data"]]
        for body in (
            {"session_id": alices_session},
            {"metadata": {"session_id": alices_session}},
        ):
            response = await http.post(
                COMPLETIONS,
                json={
                    "model": scene.mallorys_bot,
                    "messages": [{"role": "user", "content": "what did I say before?"}],
                    **body,
                },
                headers=scene.mallory,
            )
            assert response.status_code == 200, response.text
            assert "periwinkle" not in response.text
            assert response.json()["snapagent"]["session_id"] == alices_session
        theirs = await http.get(
            f"/api/v1/bots/{scene.alices_bot}/sessions/{alices_session}", headers=scene.alice
        )
    assert [m["content"] for m in theirs.json()["messages"]] == [SECRET, f"You said: {SECRET}"]


@asynccontextmanager
async def _mcp(scene: Scene, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{scene.server.base}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_mcp_shows_and_runs_nothing_of_another_account(scene: Scene) -> None:
    async with _mcp(scene, scene.mallory) as mcp:
        assert [t.name for t in (await mcp.list_tools()).tools] == ["attack"]
        for name in ("alice_private", scene.alices_bot, "../" + scene.alices_bot):
            with pytest.raises(MCPError) as caught:
                await mcp.call_tool(name, {"message": "what did alice say?"})
            assert caught.value.message == f"Unknown tool: {name}"
        async with httpx.AsyncClient(base_url=scene.server.base, timeout=60) as http:
            sessions = await http.get(
                f"/api/v1/bots/{scene.alices_bot}/sessions", headers=scene.alice
            )
        [alices_session] = [s["session_id"] for s in sessions.json()["data"]]
        answer = await mcp.call_tool(
            "attack", {"message": "and before?", "session_id": alices_session}
        )
    assert not answer.is_error
    assert "periwinkle" not in str(answer.structured_content)
    assert answer.structured_content["answer"] == "You said: and before?"  # type: ignore[index]


def _rpc(method: str, params: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


async def test_hostile_mcp_requests_are_clear_refusals(
    scene: Scene, mallory: httpx.AsyncClient
) -> None:
    accept = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"}
    huge_name = _rpc("tools/call", {"name": "x" * 500_000, "arguments": {"message": "hi"}})
    deep = b'{"message": "hi", "extra": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    deep_arguments = (
        b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "attack", '
        b'"arguments": ' + deep + b"}}"
    )
    over_the_limit = _encode(
        _rpc("tools/call", {"name": "attack", "arguments": {"message": "x" * 1_100_000}})
    )
    batch = _encode([_rpc("tools/list", {}, i) for i in range(2_000)])
    bodies = [_encode(huge_name), deep_arguments, over_the_limit, batch, b"{not json"]
    async with HealthProbe(scene.server.base) as probe:
        answers = [await mallory.post("/mcp", content=body, headers=accept) for body in bodies * 2]
        anonymous = await mallory.post(
            "/mcp", content=_encode(_rpc("tools/list", {})), headers={**accept, "Authorization": ""}
        )
    probe.assert_responsive()
    for response in answers:
        assert response.status_code < 500, response.text[:300]
    named, deep_answer, too_big, batched, broken = answers[:5]
    assert "Unknown tool: " + "x" * 100 in named.text
    assert len(named.text) < 2_000  # the name is not echoed whole
    assert deep_answer.status_code in {200, 400, 413, 422}
    assert too_big.status_code == 413
    assert batched.status_code in {200, 400}
    assert broken.status_code in {400, 422}
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
