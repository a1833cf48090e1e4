"""GET/PUT /api/v1/bots/{bot_id}/workflow: the V1 workflow, validated, problems as problem+json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from snapagent.legacy.samples import MALFORMED, rag_workflow

from .conftest import ApiUser, assert_problem, create_knowledge_base


async def new_bot(client: httpx.AsyncClient, user: ApiUser) -> str:
    response = await client.post("/api/v1/bots", json={"name": "legacy"}, headers=user.headers)
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    return bot_id


def url(bot_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/workflow"


async def test_put_then_get_round_trips_the_v1_graph(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    assert (await client.get(url(bot_id), headers=alice.headers)).json()["workflow"] is None
    kb_id = await create_knowledge_base(client, alice, "한국어")
    graph = rag_workflow(kb_ids=[kb_id], system_prompt="친절하게 {{ 답하세요 }}")
    graph["nodes"][0]["position"] = {"x": 10, "y": 20}
    put = await client.put(url(bot_id), json=graph, headers=alice.headers)
    assert put.status_code == 200, put.text
    got = await client.get(url(bot_id), headers=alice.headers)
    assert got.json()["workflow"] == graph


async def test_the_answer_says_whether_chat_runs_the_v1_workflow(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)  # a new bot runs V2, its draft not yet published
    kb_id = await create_knowledge_base(client, alice, "kb")
    put = await client.put(url(bot_id), json=rag_workflow(kb_ids=[kb_id]), headers=alice.headers)
    assert put.json()["effect"] == (
        "chat runs this V1 workflow for every session until a V2 version is published "
        "(use_workflow_v2 is true)"
    )
    versions = f"/api/v1/bots/{bot_id}/workflow-versions"
    draft = (await client.get(versions, headers=alice.headers)).json()["data"][0]
    published = await client.post(f"{versions}/{draft['id']}/publish", headers=alice.headers)
    assert published.status_code == 200, published.text
    got = await client.get(url(bot_id), headers=alice.headers)
    assert got.json()["effect"].startswith("stored but not run: use_workflow_v2 is true and ")
    for change, effect in (
        ({"v2_rollout_percent": 30}, "chat runs this V1 workflow for 70% of sessions and the "),
        ({"use_workflow_v2": False}, "chat runs this V1 workflow for every session (use_work"),
    ):
        patched = await client.patch(f"/api/v1/bots/{bot_id}", json=change, headers=alice.headers)
        assert patched.status_code == 200, patched.text
        got = await client.get(url(bot_id), headers=alice.headers)
        assert got.json()["effect"].startswith(effect)


@pytest.mark.parametrize(
    ("kind", "code", "path"),
    [
        ("unknown_type", "unknown_node_type", "nodes[1].type"),
        ("dangling_edge", "unknown_node", "edges[0].target"),
        ("cycle", "cycle", "nodes[1]"),
        ("no_start", "no_start_node", "nodes"),
    ],
)
async def test_invalid_graphs_are_problem_json_listing_the_problem(
    client: httpx.AsyncClient, alice: ApiUser, kind: str, code: str, path: str
) -> None:
    bot_id = await new_bot(client, alice)
    response = await client.put(url(bot_id), json=MALFORMED[kind](), headers=alice.headers)
    body = assert_problem(response, 422)
    problems: list[dict[str, Any]] = body["problems"]
    assert (code, path) in {(p["code"], p["path"]) for p in problems}
    assert all(p["message"] for p in problems)
    # Nothing was stored.
    assert (await client.get(url(bot_id), headers=alice.headers)).json()["workflow"] is None


async def test_missing_end_and_bad_data_are_all_reported_at_once(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    graph = MALFORMED["bad_data"]()
    graph["nodes"] = [n for n in graph["nodes"] if n["type"] != "end"]
    graph["edges"] = graph["edges"][:2]
    body = assert_problem(await client.put(url(bot_id), json=graph, headers=alice.headers), 422)
    assert {p["code"] for p in body["problems"]} == {"invalid_config", "no_end_node"}


async def test_knowledge_bases_of_another_account_or_none_are_refused_with_their_path(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    mine = await create_knowledge_base(client, alice, "mine")
    bobs = await create_knowledge_base(client, bob, "bobs")
    graph = rag_workflow(kb_ids=[mine, bobs, "no-such-kb"])
    body = assert_problem(await client.put(url(bot_id), json=graph, headers=alice.headers), 422)
    problems = {(p["code"], p["path"]) for p in body["problems"]}
    assert problems == {
        ("unknown_knowledge_base", "nodes[1].data.knowledge_base_ids[1]"),
        ("unknown_knowledge_base", "nodes[1].data.knowledge_base_ids[2]"),
    }
    # One message for both: validation never tells whether another account's id exists.
    assert (
        len({p["message"].replace(bobs, "x").replace("no-such-kb", "x") for p in body["problems"]})
        == 1
    )
    assert (await client.get(url(bot_id), headers=alice.headers)).json()["workflow"] is None


async def test_another_owners_bot_is_not_found(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bot_id = await new_bot(client, alice)
    assert_problem(await client.get(url(bot_id), headers=bob.headers), 404)
    assert_problem(await client.put(url(bot_id), json=rag_workflow(), headers=bob.headers), 404)
    assert_problem(await client.get(url(bot_id)), 401)


async def test_put_accepts_what_get_returns(client: httpx.AsyncClient, alice: ApiUser) -> None:
    bot_id = await new_bot(client, alice)
    kb_id = await create_knowledge_base(client, alice, "wrapped")
    assert (
        await client.put(url(bot_id), json=rag_workflow(kb_ids=[kb_id]), headers=alice.headers)
    ).status_code == 200
    got = (await client.get(url(bot_id), headers=alice.headers)).json()
    assert set(got) == {"workflow", "effect"}
    got["workflow"]["nodes"][2]["data"]["temperature"] = 0.1  # edit what GET gave, PUT it back
    put = await client.put(url(bot_id), json=got, headers=alice.headers)
    assert put.status_code == 200, put.text
    assert put.json() == got
    assert (await client.get(url(bot_id), headers=alice.headers)).json() == got
    for wrapped_nothing in ({"workflow": None}, {"workflow": []}):
        body = assert_problem(
            await client.put(url(bot_id), json=wrapped_nothing, headers=alice.headers), 422
        )
        assert body["errors"][0]["field"] == "workflow"
