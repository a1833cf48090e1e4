"""POST /api/v1/chat over HTTP: JSON and SSE answers, errors as problem+json, and a client that
disconnects from a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from snapagent.errors import ProviderError
from snapagent.llm.errors import ProviderTimeoutError
from snapagent.services.chat import ChatSettings
from snapagent.testing import ScriptedChatModel

from .conftest import ApiUser, assert_problem

CHAT = "/api/v1/chat"


@pytest.fixture
def chat_settings() -> ChatSettings:
    return ChatSettings(max_message_chars=200)


async def publish_bot(client: httpx.AsyncClient, user: ApiUser, name: str = "helper") -> str:
    """A new bot with its generated draft (start -> knowledge -> llm -> end) published."""
    response = await client.post("/api/v1/bots", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    versions = await client.get(f"/api/v1/bots/{bot_id}/workflow-versions", headers=user.headers)
    draft = versions.json()["data"][0]
    published = await client.post(
        f"/api/v1/bots/{bot_id}/workflow-versions/{draft['id']}/publish", headers=user.headers
    )
    assert published.status_code == 200, published.text
    return bot_id


def parse_sse(body: str) -> list[tuple[str, dict[str, Any]]]:
    """Frames as an EventSource client sees them: (event name, JSON data)."""
    events = []
    for frame in body.split("\n\n"):
        if not frame.strip():
            continue
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


async def test_chat_answers_and_carries_history(
    app: FastAPI, chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("Hello, Alice.").enqueue("You said hi.")
    bot_id = await publish_bot(client, alice)

    first = await client.post(CHAT, json={"bot_id": bot_id, "message": "hi"}, headers=alice.headers)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["answer"] == "Hello, Alice."
    assert body["version"] == 1
    assert body["sources"] == []
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + 2  # two words
    session_id = body["session_id"]

    second = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "what did I say?", "session_id": session_id},
        headers=alice.headers,
    )
    assert second.json()["answer"] == "You said hi."
    sent = [(m.role, m.content) for m in chat_model.requests[1].messages[:2]]
    assert sent == [("user", "hi"), ("assistant", "Hello, Alice.")]
    assert second.json()["run_id"] != body["run_id"]

    listed = await client.get(f"/api/v1/bots/{bot_id}/sessions", headers=alice.headers)
    assert [(s["session_id"], s["title"], s["message_count"]) for s in listed.json()["data"]] == [
        (session_id, "hi", 4)
    ]
    transcript = await client.get(
        f"/api/v1/bots/{bot_id}/sessions/{session_id}", headers=alice.headers
    )
    messages = transcript.json()["messages"]
    assert [(m["seq"], m["role"], m["content"]) for m in messages] == [
        (1, "user", "hi"),
        (2, "assistant", "Hello, Alice."),
        (3, "user", "what did I say?"),
        (4, "assistant", "You said hi."),
    ]
    assert messages[1]["run_id"] == body["run_id"]
    missing = await client.get(f"/api/v1/bots/{bot_id}/sessions/nope", headers=alice.headers)
    assert_problem(missing, 404)


@pytest.mark.parametrize("chat_settings", [ChatSettings(ping_interval_s=0.05)])
async def test_chat_streams_server_sent_events(
    app: FastAPI, chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("Streaming works fine.", chunk_size=5, delay_s=0.3)
    chat_model.enqueue("Again via Accept.", chunk_size=3)
    bot_id = await publish_bot(client, alice)

    response = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "stream?", "stream": True}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    everything = [name for name, _ in events]
    # The model waited 0.3 s before its first chunk: pings kept the connection alive.
    assert "ping" in everything[: everything.index("text")]
    events = [(name, data) for name, data in events if name != "ping"]  # may come at any time
    names = [name for name, _ in events]
    assert names[0] == "session"
    assert names[-2:] == ["sources", "message"]
    started = [d["node_id"] for n, d in events if n == "node_started"]
    finished = [d["node_id"] for n, d in events if n == "node_finished"]
    assert (started[0], started[-1]) == ("start", "end")  # the bot's generated graph
    assert "llm" in started
    assert sorted(finished) == sorted(started)
    chunks = [d["text"] for n, d in events if n == "text"]
    assert len(chunks) == 5
    final = events[-1][1]
    assert "".join(chunks) == final["answer"] == "Streaming works fine."
    assert final["run_id"] == events[0][1]["run_id"]
    assert final["usage"]["output_tokens"] == 3

    by_accept = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "again", "session_id": final["session_id"]},
        headers={**alice.headers, "Accept": "text/event-stream"},
    )
    assert parse_sse(by_accept.text)[-1][1]["answer"] == "Again via Accept."


async def test_a_legacy_v1_bot_keeps_answering(
    app: FastAPI, chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """The seed's post-deployment check: the old API on a V1 bot, session "test_session"."""
    from snapagent.legacy.samples import chat_only_workflow

    chat_model.enqueue("V1 answer")
    bot = await client.post("/api/v1/bots", json={"name": "legacy"}, headers=alice.headers)
    bot_id = bot.json()["id"]
    url = f"/api/v1/bots/{bot_id}"
    put = await client.put(f"{url}/workflow", json=chat_only_workflow(), headers=alice.headers)
    assert put.status_code == 200, put.text
    patch = await client.patch(url, json={"use_workflow_v2": False}, headers=alice.headers)
    assert patch.status_code == 200, patch.text
    body = {"bot_id": bot_id, "message": "테스트 질문입니다", "session_id": "test_session"}
    response = await client.post(CHAT, json=body, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert (response.json()["answer"], response.json()["version"]) == ("V1 answer", None)
    runs = await client.get(f"{url}/workflow-executions", headers=alice.headers)
    assert [(r["engine"], r["session_id"]) for r in runs.json()["data"]] == [("v1", "test_session")]


async def test_chat_errors_are_problems(
    app: FastAPI,
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
) -> None:
    bot_id = await publish_bot(client, alice)
    draft_only = await client.post("/api/v1/bots", json={"name": "draft"}, headers=alice.headers)

    assert_problem(await client.post(CHAT, json={"bot_id": bot_id, "message": "hi"}), 401)
    payload = {"bot_id": bot_id, "message": "hi"}
    assert_problem(await client.post(CHAT, json=payload, headers=bob.headers), 404)
    unpublished = {"bot_id": draft_only.json()["id"], "message": "hi"}
    problem = assert_problem(await client.post(CHAT, json=unpublished, headers=alice.headers), 409)
    assert "publish" in problem["detail"]
    for bad in (
        {"bot_id": bot_id, "message": ""},
        {"bot_id": bot_id, "message": "x" * 201},
        {"bot_id": bot_id, "message": "hi", "session_id": "bad id!"},
        {"bot_id": bot_id, "message": "hi", "unknown": 1},
        {"message": "hi"},
    ):
        body = assert_problem(await client.post(CHAT, json=bad, headers=alice.headers), 422)
        assert body["errors"], body

    chat_model.enqueue_error(ProviderError("upstream said 500", provider="scripted"))
    chat_model.enqueue_error(ProviderTimeoutError("no answer in 30 s", provider="scripted"))
    keyed = {**payload, "session_id": "errors"}
    assert_problem(await client.post(CHAT, json=keyed, headers=alice.headers), 502)
    timeout = assert_problem(await client.post(CHAT, json=keyed, headers=alice.headers), 504)
    assert "no answer in 30 s" in timeout["detail"]

    session = await client.get(f"/api/v1/bots/{bot_id}/sessions/errors", headers=alice.headers)
    assert [m["role"] for m in session.json()["messages"]] == ["user", "user"]
    runs = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions?status=failed", headers=alice.headers
    )
    assert [r["error_type"] for r in runs.json()["data"]] == [
        "ProviderTimeoutError",
        "ProviderError",
    ]


async def test_client_disconnect_cancels_the_run(
    app: FastAPI, chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("never sent", wait_for=asyncio.Event())  # hangs until cancelled
    bot_id = await publish_bot(client, alice)

    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # up to 10 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        port = server.servers[0].sockets[0].getsockname()[1]
        run_id = ""
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http,
            http.stream(
                "POST",
                CHAT,
                json={"bot_id": bot_id, "message": "hi", "stream": True},
                headers=alice.headers,
            ) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("data:") and '"run_id"' in line and not run_id:
                    run_id = json.loads(line[5:])["run_id"]
                if '"node_id":"llm"' in line:
                    break  # the model is now waiting: hang up
        assert run_id
        url = f"/api/v1/bots/{bot_id}/workflow-executions/{run_id}"
        for _ in range(200):
            detail = await client.get(url, headers=alice.headers)
            if detail.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert detail.status_code == 200, detail.text
        run = detail.json()
        assert run["status"] == "cancelled"
        assert run["mode"] == "streaming"
        assert {n["node_id"]: n["status"] for n in run["nodes"]}["llm"] == "cancelled"
    finally:
        server.should_exit = True
        await serving


@pytest.mark.parametrize("path", ["/api/v1/bots/{bot}/sessions", "/api/v1/bots/{bot}/sessions/s"])
async def test_session_routes_need_auth_and_ownership(
    app: FastAPI,
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
    path: str,
) -> None:
    chat_model.enqueue("ok")
    bot_id = await publish_bot(client, alice)
    await client.post(
        CHAT, json={"bot_id": bot_id, "message": "hi", "session_id": "s"}, headers=alice.headers
    )
    url = path.format(bot=bot_id)
    assert (await client.get(url, headers=alice.headers)).status_code == 200
    assert_problem(await client.get(url), 401)
    assert_problem(await client.get(url, headers=bob.headers), 404)


@pytest.mark.parametrize(
    ("error", "status", "problem_type"),
    [
        (ProviderError("upstream said 500", provider="s"), 502, "provider-error"),
        (ProviderTimeoutError("no answer in 30 s", provider="s"), 504, "provider-timeout"),
        (RuntimeError("a bug in a node"), 500, "workflow-failed"),
    ],
)
async def test_a_failed_turn_is_the_same_problem_as_json_and_as_an_sse_error_event(
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    alice: ApiUser,
    error: Exception,
    status: int,
    problem_type: str,
) -> None:
    chat_model.enqueue_error(error).enqueue_error(error)
    bot_id = await publish_bot(client, alice)
    question = {"bot_id": bot_id, "message": "hi"}
    answered = assert_problem(await client.post(CHAT, json=question, headers=alice.headers), status)
    streamed = await client.post(CHAT, json={**question, "stream": True}, headers=alice.headers)
    name, event = parse_sse(streamed.text)[-1]
    assert name == "error"
    assert event["type"] == answered["type"] == f"urn:snapagent:problem:{problem_type}"
    assert (event["status"], event["title"]) == (answered["status"], answered["title"])
    assert event["run_id"] == parse_sse(streamed.text)[0][1]["run_id"]
    assert "Error" not in event["type"]  # a problem type, never a Python class name
