"""Workflow versions over HTTP: drafts, optimistic concurrency, validate, publish, restore, diff."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import httpx

from snapagent.services.bots import default_graph

from .conftest import ApiUser, assert_problem


async def _bot_with_draft(client: httpx.AsyncClient, user: ApiUser) -> tuple[str, dict[str, Any]]:
    kb = await client.post("/api/v1/knowledge-bases", json={"name": "kb"}, headers=user.headers)
    bot = await client.post(
        "/api/v1/bots",
        json={"name": "B", "knowledge_base_ids": [kb.json()["id"]]},
        headers=user.headers,
    )
    base = f"/api/v1/bots/{bot.json()['id']}/workflow-versions"
    [summary] = (await client.get(base, headers=user.headers)).json()["data"]
    draft = (await client.get(f"{base}/{summary['id']}", headers=user.headers)).json()
    return base, draft


def _chat_only(system_prompt: str) -> dict[str, Any]:
    graph = default_graph([])
    graph["nodes"][1]["config"]["system_prompt"] = system_prompt
    return graph


async def test_draft_editing_with_optimistic_concurrency(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    base, draft = await _bot_with_draft(client, alice)
    assert draft["revision"] == 1

    second = await client.post(base, json={"graph": draft["graph"]}, headers=alice.headers)
    assert "already has a draft" in assert_problem(second, 409)["detail"]

    edited = copy.deepcopy(draft["graph"])
    edited["nodes"][2]["config"]["system_prompt"] = "Be terse."
    saved = await client.put(
        f"{base}/{draft['id']}", json={"graph": edited, "revision": 1}, headers=alice.headers
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["revision"] == 2
    assert saved.json()["graph"]["nodes"][2]["config"]["system_prompt"] == "Be terse."

    # A second editor still holding revision 1 must not overwrite the first one's work.
    stale = await client.put(
        f"{base}/{draft['id']}",
        json={"graph": draft["graph"], "revision": 1},
        headers=alice.headers,
    )
    assert "revision 1" in assert_problem(stale, 409)["detail"]
    current = (await client.get(f"{base}/{draft['id']}", headers=alice.headers)).json()
    assert current["graph"]["nodes"][2]["config"]["system_prompt"] == "Be terse."

    malformed = await client.put(
        f"{base}/{draft['id']}",
        json={"graph": {"nodes": [{"id": "x"}], "edges": "nope"}, "revision": 2},
        headers=alice.headers,
    )
    problem = assert_problem(malformed, 422)
    assert {e["field"] for e in problem["errors"]} == {"nodes[0].type", "edges"}
    missing_revision = await client.put(
        f"{base}/{draft['id']}", json={"graph": edited}, headers=alice.headers
    )
    assert assert_problem(missing_revision, 422)["errors"][0]["field"] == "revision"


async def test_validate_reports_every_problem_and_saves_nothing(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    base, draft = await _bot_with_draft(client, alice)
    ok = await client.post(
        f"{base}/validate", json={"graph": draft["graph"]}, headers=alice.headers
    )
    assert ok.json() == {"valid": True, "problems": []}

    bad = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "mystery", "type": "teleport"},
            {"id": "llm", "type": "llm", "config": {"prompt": "{{ query }}"}},
        ],
        "edges": [
            {"source": "start", "source_port": "nope", "target": "llm", "target_port": "query"}
        ],
    }
    report = (
        await client.post(f"{base}/validate", json={"graph": bad}, headers=alice.headers)
    ).json()
    assert report["valid"] is False
    codes = {p["code"] for p in report["problems"]}
    assert len(report["problems"]) >= 3  # unknown type, unknown port, no end node at least
    assert any(p["node_id"] == "mystery" for p in report["problems"])
    assert any(p["edge_index"] == 0 for p in report["problems"])
    assert len(codes) >= 3

    versions = (await client.get(base, headers=alice.headers)).json()
    assert len(versions["data"]) == 1
    assert versions["next_cursor"] is None
    unchanged = (await client.get(f"{base}/{draft['id']}", headers=alice.headers)).json()
    assert unchanged["revision"] == 1


async def test_publish_numbering_archiving_immutability(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    base, draft = await _bot_with_draft(client, alice)
    invalid = copy.deepcopy(draft["graph"])
    invalid["nodes"] = [n for n in invalid["nodes"] if n["type"] != "end"]
    invalid["edges"] = [e for e in invalid["edges"] if e["target"] != "end"]
    await client.put(
        f"{base}/{draft['id']}", json={"graph": invalid, "revision": 1}, headers=alice.headers
    )
    refused = await client.post(f"{base}/{draft['id']}/publish", headers=alice.headers)
    problem = assert_problem(refused, 422)
    assert problem["problems"]
    assert problem["errors"]
    still = (await client.get(f"{base}/{draft['id']}", headers=alice.headers)).json()
    assert still["status"] == "draft"

    await client.put(
        f"{base}/{draft['id']}",
        json={"graph": draft["graph"], "revision": 2},
        headers=alice.headers,
    )
    stale_publish = await client.post(
        f"{base}/{draft['id']}/publish", json={"revision": 2}, headers=alice.headers
    )
    assert_problem(stale_publish, 409)
    v1 = await client.post(
        f"{base}/{draft['id']}/publish", json={"revision": 3}, headers=alice.headers
    )
    assert v1.status_code == 200, v1.text
    assert (v1.json()["status"], v1.json()["version_number"]) == ("published", 1)
    assert v1.json()["published_by"] == alice.id
    assert v1.json()["published_at"] is not None

    frozen = await client.put(
        f"{base}/{draft['id']}", json={"graph": invalid, "revision": 3}, headers=alice.headers
    )
    assert "only a draft" in assert_problem(frozen, 409)["detail"]
    assert_problem(await client.post(f"{base}/{draft['id']}/publish", headers=alice.headers), 409)

    # A new draft copies the published graph; publishing it archives version 1.
    copy_draft = await client.post(base, json={}, headers=alice.headers)
    assert copy_draft.status_code == 201, copy_draft.text
    assert copy_draft.json()["graph"] == v1.json()["graph"]
    assert copy_draft.json()["source"] == "copy:1"
    v2 = await client.post(f"{base}/{copy_draft.json()['id']}/publish", headers=alice.headers)
    assert v2.json()["version_number"] == 2
    old = (await client.get(f"{base}/{draft['id']}", headers=alice.headers)).json()
    assert old["status"] == "archived"

    third = await client.post(base, json={"graph": _chat_only("x")}, headers=alice.headers)
    listed = (await client.get(base, headers=alice.headers)).json()["data"]
    assert [(v["status"], v["version_number"]) for v in listed] == [
        ("draft", None),
        ("published", 2),
        ("archived", 1),
    ]
    assert listed[0]["id"] == third.json()["id"]
    assert "graph" not in listed[0]  # summaries; one version's GET has the graph


async def test_restore_and_diff(client: httpx.AsyncClient, alice: ApiUser) -> None:
    base, draft = await _bot_with_draft(client, alice)
    v1 = (await client.post(f"{base}/{draft['id']}/publish", headers=alice.headers)).json()
    second = (
        await client.post(base, json={"graph": _chat_only("Be kind.")}, headers=alice.headers)
    ).json()
    v2 = (await client.post(f"{base}/{second['id']}/publish", headers=alice.headers)).json()

    diff = await client.get(
        f"{base}/diff", params={"from": v1["id"], "to": v2["id"]}, headers=alice.headers
    )
    assert diff.status_code == 200, diff.text
    body = diff.json()
    assert body["nodes_removed"] == ["knowledge"]
    assert body["nodes_added"] == []
    [llm] = body["nodes_changed"]
    assert llm["node_id"] == "llm"
    assert set(llm["changed_fields"]) == {"config.prompt", "config.system_prompt"}
    change = next(c for c in llm["changes"] if c["field"] == "config.system_prompt")
    assert change["after"] == "Be kind."
    assert {(e["source"], e["target"]) for e in body["edges_removed"]} == {
        ("start", "knowledge"),
        ("knowledge", "llm"),
    }
    assert body["edges_added"] == []

    # Restore version 1 with no draft around: a new draft holding version 1's graph.
    restored = await client.post(f"{base}/{v1['id']}/restore", headers=alice.headers)
    assert restored.status_code == 200, restored.text
    draft2 = restored.json()
    assert draft2["status"] == "draft"
    assert draft2["graph"] == v1["graph"]
    assert draft2["note"] == "restored from version 1"

    # Restore version 2 over that draft: the revision guard applies.
    stale = await client.post(
        f"{base}/{v2['id']}/restore", json={"revision": 99}, headers=alice.headers
    )
    assert_problem(stale, 409)
    over = await client.post(
        f"{base}/{v2['id']}/restore", json={"revision": draft2["revision"]}, headers=alice.headers
    )
    assert over.json()["graph"] == v2["graph"]
    assert over.json()["revision"] == draft2["revision"] + 1
    same = await client.get(
        f"{base}/diff", params={"from": v2["id"], "to": over.json()["id"]}, headers=alice.headers
    )
    assert same.json()["nodes_changed"] == []
    assert same.json()["edges_added"] == []
    assert_problem(
        await client.post(f"{base}/{over.json()['id']}/restore", headers=alice.headers), 409
    )


async def test_versions_are_private(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    base, draft = await _bot_with_draft(client, alice)
    bob_base, bob_draft = await _bot_with_draft(client, bob)
    vid = draft["id"]
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", base, {}),
        ("POST", base, {"json": {"graph": draft["graph"]}}),
        ("POST", f"{base}/validate", {"json": {"graph": draft["graph"]}}),
        ("GET", f"{base}/diff?from={vid}&to={vid}", {}),
        ("GET", f"{base}/{vid}", {}),
        ("PUT", f"{base}/{vid}", {"json": {"graph": draft["graph"], "revision": 1}}),
        ("POST", f"{base}/{vid}/publish", {}),
        ("POST", f"{base}/{vid}/restore", {}),
    ]
    for method, path, kwargs in routes:
        response = await client.request(method, path, headers=bob.headers, **kwargs)
        assert_problem(response, 404)
    # Alice's version id under Bob's own bot is just as unknown.
    foreign = await client.get(f"{bob_base}/{vid}", headers=bob.headers)
    assert_problem(foreign, 404)
    unchanged = (await client.get(f"{base}/{vid}", headers=alice.headers)).json()
    assert (unchanged["status"], unchanged["revision"]) == ("draft", 1)
    assert bob_draft["id"] != vid


async def test_concurrent_saves_and_publishes_have_one_winner(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    base, draft = await _bot_with_draft(client, alice)
    url = f"{base}/{draft['id']}"

    def edit(prompt: str) -> dict[str, Any]:
        graph = copy.deepcopy(draft["graph"])
        graph["nodes"][2]["config"]["system_prompt"] = prompt
        return {"graph": graph, "revision": 1}

    saves = await asyncio.gather(
        *(client.put(url, json=edit(f"editor {i}"), headers=alice.headers) for i in range(4))
    )
    statuses = sorted(r.status_code for r in saves)
    assert statuses == [200, 409, 409, 409]
    winner = next(r.json() for r in saves if r.status_code == 200)
    stored = (await client.get(url, headers=alice.headers)).json()
    assert stored["revision"] == 2
    assert stored["graph"] == winner["graph"]

    publishes = await asyncio.gather(
        *(client.post(f"{url}/publish", headers=alice.headers) for _ in range(3))
    )
    assert sorted(r.status_code for r in publishes) == [200, 409, 409]
    listed = (await client.get(base, headers=alice.headers)).json()["data"]
    assert [(v["status"], v["version_number"]) for v in listed] == [("published", 1)]
