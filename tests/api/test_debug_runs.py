"""Debug runs of a version over HTTP: a draft or a published version answers without being
published, JSON or the chat's SSE; recorded as ``trigger: debug``, listed but never counted
(statistics, migration status, run metrics); a debug session never touches users' sessions."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from snapagent.testing import ScriptedChatModel

from .conftest import ApiUser, assert_problem
from .test_chat_api import CHAT, parse_sse
from .test_conversation_variables import counter_graph


def broken_graph(template: str = "{{ (query | length) // 0 }}") -> dict[str, Any]:
    """start -> count (template) -> llm -> end. The default template divides by zero: every
    run fails at ``count``, which static validation cannot see."""
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "count", "type": "template", "config": {"template": template},
             "inputs": {"query": {"selector": ["start", "query"]}}},
            {"id": "llm", "type": "llm", "config": {"prompt": "{{ n }} characters: {{ q }}"},
             "inputs": {"q": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "count", "source_port": "text", "target": "llm", "target_port": "n"},
            {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }  # fmt: skip


FIXED = "{{ query | length }}"


async def new_bot(client: httpx.AsyncClient, user: ApiUser, name: str = "debugged") -> str:
    response = await client.post("/api/v1/bots", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    return bot_id


async def versions_of(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> list[Any]:
    response = await client.get(f"/api/v1/bots/{bot_id}/workflow-versions", headers=user.headers)
    assert response.status_code == 200, response.text
    data: list[Any] = response.json()["data"]
    return data


async def draft_of(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> dict[str, Any]:
    listed = await versions_of(client, user, bot_id)
    draft = next(v for v in listed if v["status"] == "draft")
    response = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-versions/{draft['id']}", headers=user.headers
    )
    body: dict[str, Any] = response.json()
    return body


async def save_draft(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, graph: dict[str, Any]
) -> dict[str, Any]:
    """Put ``graph`` into the bot's draft (creating one if needed); the saved draft."""
    base = f"/api/v1/bots/{bot_id}/workflow-versions"
    drafts = [v for v in await versions_of(client, user, bot_id) if v["status"] == "draft"]
    if not drafts:
        response = await client.post(base, json={"graph": graph}, headers=user.headers)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body
    draft = drafts[0]
    response = await client.put(
        f"{base}/{draft['id']}",
        json={"graph": graph, "revision": draft["revision"]},
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


async def publish(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, graph: dict[str, Any]
) -> dict[str, Any]:
    draft = await save_draft(client, user, bot_id, graph)
    response = await client.post(
        f"/api/v1/bots/{bot_id}/workflow-versions/{draft['id']}/publish", headers=user.headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def run_url(bot_id: str, version_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/workflow-versions/{version_id}/run"


async def counted(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> dict[str, Any]:
    """Everything that counts runs: the bot's statistics, the migration status, run metrics."""
    stats = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions/statistics", headers=user.headers
    )
    status = await client.get("/api/v1/migration/status", headers=user.headers)
    metrics = await client.get("/metrics")
    runs_total = [
        line
        for line in metrics.text.splitlines()
        if line.startswith("snapagent_workflow_runs_total")
    ]
    return {
        "statistics": stats.json(),
        "v2": status.json()["v2"],
        "v2_meets_goal": status.json()["v2_meets_goal"],
        "metrics": runs_total,
    }


async def test_a_draft_answers_without_being_published(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("live answer").enqueue("draft answer")
    bot_id = await new_bot(client, alice)
    live = await publish(client, alice, bot_id, broken_graph(FIXED))
    assert (
        await client.post(CHAT, json={"bot_id": bot_id, "message": "hi"}, headers=alice.headers)
    ).status_code == 200
    edited = broken_graph("{{ query | upper }}")
    draft = await save_draft(client, alice, bot_id, edited)
    before = await counted(client, alice, bot_id)

    response = await client.post(
        run_url(bot_id, draft["id"]), json={"message": "hello"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == "draft answer"
    assert body["version"] is None
    assert body["version_id"] == draft["id"]
    assert body["trigger"] == "debug"
    assert body["rerun_of"] is None
    assert body["reused"] == []
    # The draft's template ran, not the live one's.
    assert "HELLO characters: hello" in chat_model.requests[-1].messages[-1].content

    executions = f"/api/v1/bots/{bot_id}/workflow-executions"
    record = (await client.get(f"{executions}/{body['run_id']}", headers=alice.headers)).json()
    assert record["trigger"] == "debug"
    assert record["version_id"] == draft["id"]
    assert record["status"] == "succeeded"
    debug_ids = [
        r["id"]
        for r in (await client.get(f"{executions}?trigger=debug", headers=alice.headers)).json()[
            "data"
        ]
    ]
    chat_runs = (await client.get(f"{executions}?trigger=chat", headers=alice.headers)).json()[
        "data"
    ]
    everything = (await client.get(executions, headers=alice.headers)).json()["data"]
    assert debug_ids == [body["run_id"]]
    assert [r["trigger"] for r in chat_runs] == ["chat"]
    assert len(everything) == 2
    assert_problem(await client.get(f"{executions}?trigger=cron", headers=alice.headers), 422)

    # Nothing that counts runs moved; the draft is still a draft, the live version still live.
    assert await counted(client, alice, bot_id) == before
    listed = await versions_of(client, alice, bot_id)
    assert [(v["status"], v["version_number"]) for v in listed] == [
        ("draft", None),
        ("published", 1),
    ]
    assert live["status"] == "published"

    # A published version runs the same way (its number in the answer).
    chat_model.enqueue("v1 again")
    again = await client.post(
        run_url(bot_id, live["id"]), json={"message": "x"}, headers=alice.headers
    )
    assert again.json()["version"] == 1
    assert again.json()["answer"] == "v1 again"
    assert await counted(client, alice, bot_id) == before


async def test_failed_debug_runs_are_problems_with_their_run_and_still_uncounted(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    await publish(client, alice, bot_id, broken_graph(FIXED))
    draft = await save_draft(client, alice, bot_id, broken_graph())
    before = await counted(client, alice, bot_id)
    failed = await client.post(
        run_url(bot_id, draft["id"]), json={"message": "boom"}, headers=alice.headers
    )
    problem = assert_problem(failed, 500)
    assert "at node count" in problem["detail"]
    record = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions/{problem['run_id']}", headers=alice.headers
    )
    nodes = {n["node_id"]: n for n in record.json()["nodes"]}
    assert nodes["count"]["status"] == "failed"
    assert nodes["count"]["inputs"] == {"query": "boom"}
    assert await counted(client, alice, bot_id) == before


async def test_debug_runs_stream_the_chats_events(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("streamed draft answer", chunk_size=4)
    bot_id = await new_bot(client, alice)
    draft = await save_draft(client, alice, bot_id, broken_graph(FIXED))
    response = await client.post(
        run_url(bot_id, draft["id"]), json={"message": "s", "stream": True}, headers=alice.headers
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [(n, d) for n, d in parse_sse(response.text) if n != "ping"]
    names = [n for n, _ in events]
    assert names[0] == "session"
    assert names[-2:] == ["sources", "message"]
    assert {"node_started", "node_finished", "text"} <= set(names)
    text = "".join(d["text"] for n, d in events if n == "text")
    assert text == "streamed draft answer"
    message = events[-1][1]
    assert message["trigger"] == "debug"
    assert message["answer"] == text
    assert events[0][1]["run_id"] == message["run_id"]


async def test_draft_variables_live_in_a_debug_session_never_a_users(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    await publish(client, alice, bot_id, counter_graph())
    # A real user's session "s1" on the live version.
    for message in ("alpha", "beta"):
        chat = await client.post(
            CHAT,
            json={"bot_id": bot_id, "message": message, "session_id": "s1"},
            headers=alice.headers,
        )
        assert chat.json()["answer"] == (
            "turn 1: alpha" if message == "alpha" else "turn 2: alpha, beta"
        )
    sessions = f"/api/v1/bots/{bot_id}/sessions"
    real_before = (await client.get(f"{sessions}/s1", headers=alice.headers)).json()

    # The draft counts differently; its debug session may even reuse the id "s1".
    graph = counter_graph()
    graph["conversation_variables"][0]["default"] = 100
    draft = await save_draft(client, alice, bot_id, graph)
    answers = []
    for message in ("one", "two"):
        run = await client.post(
            run_url(bot_id, draft["id"]),
            json={"message": message, "session_id": "s1"},
            headers=alice.headers,
        )
        assert run.status_code == 200, run.text
        answers.append(run.json()["answer"])
    assert answers == ["turn 101: one", "turn 102: one, two"]

    assert (await client.get(f"{sessions}/s1", headers=alice.headers)).json() == real_before
    listed = (await client.get(sessions, headers=alice.headers)).json()["data"]
    assert [s["session_id"] for s in listed] == ["s1"]
    chat = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "gamma", "session_id": "s1"}, headers=alice.headers
    )
    assert chat.json()["answer"] == "turn 3: alpha, beta, gamma"


async def test_a_draft_that_fails_validation_answers_422_with_every_problem(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    graph = broken_graph(FIXED)
    graph["edges"].append(
        {"source": "count", "source_port": "nope", "target": "end", "target_port": "answer"}
    )
    graph["nodes"].append({"id": "lonely", "type": "template", "config": {"template": "x"}})
    draft = await save_draft(client, alice, bot_id, graph)
    problem = assert_problem(
        await client.post(
            run_url(bot_id, draft["id"]), json={"message": "hi"}, headers=alice.headers
        ),
        422,
    )
    assert len(problem["problems"]) >= 2
    assert {p["node_id"] for p in problem["problems"] if p.get("node_id")} >= {"lonely"}
    runs = await client.get(f"/api/v1/bots/{bot_id}/workflow-executions", headers=alice.headers)
    assert runs.json()["data"] == []  # nothing ran, nothing recorded


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "   "}, "message"),
        ({"message": "hi", "session_id": "bad id!"}, "session_id"),
        ({"message": "hi", "inputs": {"query": "x"}}, "inputs.query"),
        ({"message": "hi", "inputs": {"undeclared": 1}}, "inputs.undeclared"),
        ({"message": "hi", "inputs": {"lang": 5}}, "inputs.lang"),
        ({"message": "hi", "unknown": True}, "unknown"),
    ],
)
async def test_bad_requests_name_the_field(
    client: httpx.AsyncClient, alice: ApiUser, body: dict[str, Any], field: str
) -> None:
    bot_id = await new_bot(client, alice)
    graph = broken_graph(FIXED)
    graph["nodes"][0]["config"] = {"inputs": [{"name": "lang", "type": "string"}]}
    draft = await save_draft(client, alice, bot_id, graph)
    problem = assert_problem(
        await client.post(run_url(bot_id, draft["id"]), json=body, headers=alice.headers), 422
    )
    assert field in [e["field"] for e in problem["errors"]]


async def test_declared_inputs_reach_the_run(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("ok")
    bot_id = await new_bot(client, alice)
    graph = copy.deepcopy(broken_graph("{{ lang }}/{{ query }}"))
    graph["nodes"][0]["config"] = {"inputs": [{"name": "lang", "type": "string", "required": True}]}
    graph["nodes"][1]["inputs"]["lang"] = {"selector": ["start", "lang"]}
    draft = await save_draft(client, alice, bot_id, graph)
    url = run_url(bot_id, draft["id"])
    missing = assert_problem(
        await client.post(url, json={"message": "q"}, headers=alice.headers), 422
    )
    assert missing["errors"][0]["field"] == "inputs.lang"
    response = await client.post(
        url, json={"message": "q", "inputs": {"lang": "ko"}}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert "ko/q characters" in chat_model.requests[-1].messages[-1].content
    record = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions/{response.json()['run_id']}",
        headers=alice.headers,
    )
    assert record.json()["inputs"]["lang"] == "ko"


async def test_other_accounts_ids_are_404(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    alice_bot = await new_bot(client, alice)
    alice_draft = await save_draft(client, alice, alice_bot, broken_graph(FIXED))
    bob_bot = await new_bot(client, bob, "bob's")
    body = {"message": "hi"}
    for url in (
        run_url(alice_bot, alice_draft["id"]),  # alice's bot and version
        run_url(bob_bot, alice_draft["id"]),  # his bot, her version
        run_url(alice_bot, "0" * 32),
    ):
        assert_problem(await client.post(url, json=body, headers=bob.headers), 404)
    assert_problem(await client.post(run_url(alice_bot, alice_draft["id"]), json=body), 401)
