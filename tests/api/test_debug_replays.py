"""One node run alone and replays over HTTP: the fix-a-broken-bot loop of docs/debugging.md.

A published version fails at a node; that node is run again with the inputs it got (as
recorded), the draft fixes it, the run is replayed from that node on the draft (upstream nodes
reuse their recorded outputs), and every one of those runs is a debug run."""

from __future__ import annotations

import httpx
import pytest

from snapagent.services.executions import ExecutionSettings
from snapagent.testing import ScriptedChatModel

from .conftest import ApiUser, assert_problem
from .test_chat_api import CHAT
from .test_debug_runs import (
    FIXED,
    broken_graph,
    counted,
    new_bot,
    publish,
    save_draft,
)


def node_url(bot_id: str, version_id: str, node_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/workflow-versions/{version_id}/nodes/{node_id}/run"


def rerun_url(bot_id: str, run_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/workflow-executions/{run_id}/rerun"


async def failed_chat(client: httpx.AsyncClient, user: ApiUser, bot_id: str, message: str) -> str:
    """A chat turn that fails; its run id."""
    response = await client.post(
        CHAT, json={"bot_id": bot_id, "message": message}, headers=user.headers
    )
    problem = assert_problem(response, 500)
    run_id: str = problem["run_id"]
    return run_id


async def test_fix_a_broken_bot_node_by_node(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    live = await publish(client, alice, bot_id, broken_graph())
    run_id = await failed_chat(client, alice, bot_id, "hello there")
    before = await counted(client, alice, bot_id)

    # The failing node again, with the inputs it got: it still fails, and says why.
    again = await client.post(
        node_url(bot_id, live["id"], "count"), json={"from_run_id": run_id}, headers=alice.headers
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["status"] == "failed"
    assert body["inputs"] == {"query": "hello there"}
    assert body["error"]["type"]
    assert "division" in body["error"]["message"].lower()
    assert body["from_run_id"] == run_id
    assert body["outputs"] == {}

    # The fix, tried on the one node with those inputs, then with inputs given by hand.
    draft = await save_draft(client, alice, bot_id, broken_graph(FIXED))
    fixed = await client.post(
        node_url(bot_id, draft["id"], "count"), json={"from_run_id": run_id}, headers=alice.headers
    )
    assert fixed.json()["status"] == "succeeded"
    assert fixed.json()["outputs"] == {"text": "11"}
    by_hand = await client.post(
        node_url(bot_id, draft["id"], "count"),
        json={"inputs": {"query": "abc"}},
        headers=alice.headers,
    )
    assert by_hand.json()["outputs"] == {"text": "3"}
    assert by_hand.json()["elapsed_ms"] >= 0
    assert by_hand.json()["usage"]["total_tokens"] == 0
    record = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-executions/{by_hand.json()['run_id']}",
        headers=alice.headers,
    )
    assert record.json()["trigger"] == "debug"
    assert record.json()["node_count"] == 1
    assert [n["node_id"] for n in record.json()["nodes"]] == ["count"]

    # The whole run replayed from that node on the draft: start is reused, the rest runs.
    chat_model.enqueue("fixed answer")
    replay = await client.post(
        rerun_url(bot_id, run_id),
        json={"from_node_id": "count", "version_id": draft["id"]},
        headers=alice.headers,
    )
    assert replay.status_code == 200, replay.text
    assert replay.json()["answer"] == "fixed answer"
    assert replay.json()["rerun_of"] == run_id
    assert replay.json()["reused"] == ["start"]
    assert "11 characters: hello there" in chat_model.requests[-1].messages[-1].content
    detail = (
        await client.get(
            f"/api/v1/bots/{bot_id}/workflow-executions/{replay.json()['run_id']}",
            headers=alice.headers,
        )
    ).json()
    assert detail["rerun_of"] == run_id
    assert detail["rerun_from_node"] == "count"
    assert detail["trigger"] == "debug"
    assert detail["version_id"] == draft["id"]
    nodes = {n["node_id"]: n for n in detail["nodes"]}
    assert nodes["start"]["reused"]
    assert not nodes["count"]["reused"]
    assert nodes["count"]["outputs"] == {"text": "11"}

    # None of it counted.
    assert await counted(client, alice, bot_id) == before


async def test_a_replay_reuses_a_recorded_branch_and_reruns_the_rest(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    graph = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "route", "type": "if_else",
             "config": {"cases": [{"name": "long", "conditions": [
                 {"input": "q", "operator": "contains", "value": "long"}]}]},
             "inputs": {"q": {"selector": ["start", "query"]}}},
            {"id": "longer", "type": "template", "config": {"template": "long: {{ q }}"},
             "inputs": {"q": {"selector": ["start", "query"]}}},
            {"id": "shorter", "type": "template", "config": {"template": "short: {{ q }}"},
             "inputs": {"q": {"selector": ["start", "query"]}}},
            {"id": "merge", "type": "variable_aggregator",
             "config": {"variables": ["a", "b"], "output_type": "string"},
             "inputs": {"a": {"selector": ["longer", "text"]},
                        "b": {"selector": ["shorter", "text"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]},
             "inputs": {"answer": {"selector": ["merge", "output"]}}},
        ],
        "edges": [
            {"source": "route", "source_port": "long", "target": "longer"},
            {"source": "route", "source_port": "else", "target": "shorter"},
        ],
    }  # fmt: skip
    bot_id = await new_bot(client, alice)
    live = await publish(client, alice, bot_id, graph)
    chat = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "a long question"}, headers=alice.headers
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["answer"] == "long: a long question"
    run_id = chat.json()["run_id"]
    detail = (
        await client.get(
            f"/api/v1/bots/{bot_id}/workflow-executions/{run_id}", headers=alice.headers
        )
    ).json()
    assert {n["node_id"]: n["branch"] for n in detail["nodes"]}["route"] == "long"

    graph["nodes"][2]["config"]["template"] = "LONG: {{ q }}"
    draft = await save_draft(client, alice, bot_id, graph)
    replay = await client.post(
        rerun_url(bot_id, run_id),
        json={"from_node_id": "longer", "version_id": draft["id"]},
        headers=alice.headers,
    )
    assert replay.status_code == 200, replay.text
    assert replay.json()["answer"] == "LONG: a long question"
    assert replay.json()["reused"] == ["route", "start"]
    # From the live version itself (no version_id): it ran the same again.
    same = await client.post(
        rerun_url(bot_id, run_id), json={"from_node_id": "merge"}, headers=alice.headers
    )
    assert same.json()["answer"] == "long: a long question"
    assert same.json()["version_id"] == live["id"]
    # "shorter" was skipped behind the branch not taken: the recorded branch skips it again.
    assert same.json()["reused"] == ["longer", "route", "start"]


async def test_replay_refusals_are_clear(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    await publish(client, alice, bot_id, broken_graph())
    run_id = await failed_chat(client, alice, bot_id, "hi")
    graph = broken_graph(FIXED)
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "count"]
    graph["nodes"][1]["config"]["prompt"] = "{{ q }}"
    graph["edges"] = graph["edges"][1:]
    draft = await save_draft(client, alice, bot_id, graph)

    # The version's graph no longer has the node.
    gone = assert_problem(
        await client.post(
            rerun_url(bot_id, run_id),
            json={"from_node_id": "count", "version_id": draft["id"]},
            headers=alice.headers,
        ),
        422,
    )
    assert gone["errors"][0]["field"] == "from_node_id"
    assert "has no node 'count'" in gone["detail"]
    assert "start, llm, end" in gone["detail"]
    # Downstream of the node that failed the original run: rerun from that node instead.
    after = assert_problem(
        await client.post(
            rerun_url(bot_id, run_id), json={"from_node_id": "llm"}, headers=alice.headers
        ),
        422,
    )
    assert "node 'count' failed run" in after["detail"]
    assert "rerun from 'count'" in after["detail"]
    # Unknown node, unknown version, unknown or foreign run.
    assert_problem(
        await client.post(
            rerun_url(bot_id, run_id), json={"from_node_id": "nope"}, headers=alice.headers
        ),
        422,
    )
    assert_problem(
        await client.post(
            rerun_url(bot_id, run_id),
            json={"from_node_id": "count", "version_id": "f" * 32},
            headers=alice.headers,
        ),
        404,
    )
    assert_problem(
        await client.post(
            rerun_url(bot_id, "0" * 32), json={"from_node_id": "count"}, headers=alice.headers
        ),
        404,
    )
    assert_problem(
        await client.post(
            rerun_url(bot_id, run_id), json={"from_node_id": "count"}, headers=bob.headers
        ),
        404,
    )
    bob_bot = await new_bot(client, bob, "bob's")
    assert_problem(
        await client.post(
            rerun_url(bob_bot, run_id), json={"from_node_id": "count"}, headers=bob.headers
        ),
        404,
    )
    assert_problem(
        await client.post(rerun_url(bot_id, run_id), json={}, headers=alice.headers), 422
    )


async def test_node_run_refusals_are_clear(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    live = await publish(client, alice, bot_id, broken_graph())
    run_id = await failed_chat(client, alice, bot_id, "hi")
    url = node_url(bot_id, live["id"], "count")
    missing = assert_problem(
        await client.post(
            node_url(bot_id, live["id"], "nope"), json={"inputs": {}}, headers=alice.headers
        ),
        404,
    )
    assert "has no node 'nope'" in missing["detail"]
    for body, field in (
        ({}, "inputs"),
        ({"inputs": {"query": "x"}, "from_run_id": run_id}, "inputs"),
        ({"inputs": {"nope": 1}}, "inputs.nope"),
        ({"from_run_id": run_id, "scope": [["each", 0]]}, "from_run_id"),
    ):
        problem = assert_problem(await client.post(url, json=body, headers=alice.headers), 422)
        assert problem["errors"][0]["field"] == field, problem
    wrong_type = assert_problem(
        await client.post(
            node_url(bot_id, live["id"], "llm"),
            json={"inputs": {"n": "3", "q": "x", "history": "not a list"}},
            headers=alice.headers,
        ),
        422,
    )
    assert wrong_type["errors"][0]["field"] == "inputs.history"
    # A node the run never reached (it failed before) has no inputs to replay.
    skipped = assert_problem(
        await client.post(
            node_url(bot_id, live["id"], "llm"), json={"from_run_id": run_id}, headers=alice.headers
        ),
        422,
    )
    assert "skipped" in skipped["detail"]
    # A required input left out: the node runs and fails, naming it.
    left_out = await client.post(url, json={"inputs": {}}, headers=alice.headers)
    assert left_out.json()["status"] == "failed"
    assert "required input 'query'" in left_out.json()["error"]["message"]
    # Other accounts' bots, versions and runs.
    assert_problem(
        await client.post(url, json={"inputs": {"query": "x"}}, headers=bob.headers), 404
    )
    bob_bot = await new_bot(client, bob, "bob's")
    bob_draft = await save_draft(client, bob, bob_bot, broken_graph(FIXED))
    assert_problem(
        await client.post(
            node_url(bob_bot, live["id"], "count"),
            json={"inputs": {"query": "x"}},
            headers=bob.headers,
        ),
        404,
    )
    assert_problem(
        await client.post(
            node_url(bob_bot, bob_draft["id"], "count"),
            json={"from_run_id": run_id},
            headers=bob.headers,
        ),
        404,
    )


@pytest.mark.parametrize("execution_settings", [ExecutionSettings(value_max_chars=100)])
async def test_truncated_records_are_marked_and_never_replayed(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    graph = broken_graph("{{ query }}")
    graph["nodes"][2]["config"]["prompt"] = "{{ n }}"
    del graph["nodes"][2]["inputs"]
    live = await publish(client, alice, bot_id, graph)
    long_message = "x" * 150
    chat = await client.post(
        CHAT, json={"bot_id": bot_id, "message": long_message}, headers=alice.headers
    )
    assert chat.status_code == 200, chat.text
    run_id = chat.json()["run_id"]
    detail = (
        await client.get(
            f"/api/v1/bots/{bot_id}/workflow-executions/{run_id}", headers=alice.headers
        )
    ).json()
    assert "inputs.query" in detail["truncated"]
    nodes = {n["node_id"]: n for n in detail["nodes"]}
    assert nodes["count"]["truncated"] == ["inputs.query", "outputs.text"]
    assert nodes["count"]["inputs"]["query"].endswith("…[_truncated: 150 chars]")
    assert "inputs.n" in nodes["llm"]["truncated"]
    assert nodes["start"]["truncated"] == ["outputs.query"]

    clipped = assert_problem(
        await client.post(
            node_url(bot_id, live["id"], "count"),
            json={"from_run_id": run_id},
            headers=alice.headers,
        ),
        422,
    )
    assert "truncated" in clipped["detail"]
    assert "inputs.query" in clipped["detail"]
    reuse = assert_problem(
        await client.post(
            rerun_url(bot_id, run_id), json={"from_node_id": "end"}, headers=alice.headers
        ),
        422,
    )
    assert (
        "outputs of node 'llm' were truncated" in reuse["detail"] or "truncated" in reuse["detail"]
    )
    assert reuse["errors"][0]["field"] == "from_node_id"
