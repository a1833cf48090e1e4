"""Execution statistics and listing by engine over HTTP: a legacy bot answers on V1, then V2 is
switched on for half of its sessions and one session's chat runs V2 (SQLite and PostgreSQL)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from snapagent.legacy.samples import chat_only_workflow
from snapagent.services.rollout import BUCKETS, rollout_bucket
from snapagent.testing import ScriptedChatModel

from .conftest import ApiUser, assert_problem
from .test_chat_api import CHAT


def _session_on(bot_id: str, engine: str, percent: int) -> str:
    """A session id the rollout sends to ``engine`` at ``percent`` % V2."""
    line = percent * (BUCKETS // 100)
    for i in range(1000):
        session_id = f"s{i}"
        if (rollout_bucket(bot_id, session_id) < line) == (engine == "v2"):
            return session_id
    raise AssertionError("no session found")  # pragma: no cover - 1000 tries at 50 %


async def test_v1_and_v2_runs_of_one_bot_are_told_apart(
    app: FastAPI,
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
) -> None:
    created = await client.post("/api/v1/bots", json={"name": "legacy"}, headers=alice.headers)
    bot_id = created.json()["id"]
    base = f"/api/v1/bots/{bot_id}"
    put = await client.put(f"{base}/workflow", json=chat_only_workflow(), headers=alice.headers)
    assert put.status_code == 200, put.text
    off = await client.patch(base, json={"use_workflow_v2": False}, headers=alice.headers)
    assert off.status_code == 200, off.text

    chat_model.enqueue("V1 one").enqueue("V1 two")
    for session_id in ("a", "b"):
        body = {"bot_id": bot_id, "message": "hi", "session_id": session_id}
        answered = await client.post(CHAT, json=body, headers=alice.headers)
        assert answered.status_code == 200, answered.text
        assert answered.json()["version"] is None  # V1 has no version number

    # Publish the bot's V2 draft and send half of the sessions to it.
    versions = await client.get(f"{base}/workflow-versions", headers=alice.headers)
    draft = versions.json()["data"][0]
    published = await client.post(
        f"{base}/workflow-versions/{draft['id']}/publish", headers=alice.headers
    )
    assert published.status_code == 200, published.text
    patch = {"use_workflow_v2": True, "v2_rollout_percent": 50}
    assert (await client.patch(base, json=patch, headers=alice.headers)).status_code == 200
    chat_model.enqueue("V2 answer").enqueue("V1 again")
    for engine, reply in (("v2", "V2 answer"), ("v1", "V1 again")):
        body = {"bot_id": bot_id, "message": "hi", "session_id": _session_on(bot_id, engine, 50)}
        answered = await client.post(CHAT, json=body, headers=alice.headers)
        assert answered.status_code == 200, answered.text
        assert answered.json()["answer"] == reply
        assert (answered.json()["version"] is None) == (engine == "v1")

    stats = await client.get(f"{base}/workflow-executions/statistics", headers=alice.headers)
    assert stats.status_code == 200, stats.text
    body = stats.json()
    assert body["total_runs"] == 4
    by_engine = {row["engine"]: row for row in body["by_engine"]}
    assert list(by_engine) == ["v1", "v2"]
    assert (by_engine["v1"]["runs"], by_engine["v1"]["succeeded"]) == (3, 3)
    assert (by_engine["v2"]["runs"], by_engine["v2"]["succeeded"]) == (1, 1)
    for row in by_engine.values():
        assert (row["failed"], row["cancelled"], row["success_rate"]) == (0, 0, 1.0)
        assert row["goal_success_rate"] == 1.0
        assert row["p95_latency_ms"] >= row["p50_latency_ms"] > 0
        assert row["total_tokens"] == row["input_tokens"] + row["output_tokens"]

    # The migration status over the same (only) bot agrees with the breakdown.
    status = (await client.get("/api/v1/migration/status", headers=alice.headers)).json()
    for engine, row in by_engine.items():
        assert status[engine]["runs"] == row["runs"]
        assert status[engine]["success_rate"] == row["goal_success_rate"]
        assert status[engine]["avg_elapsed_ms"] == row["avg_latency_ms"]

    listing = f"{base}/workflow-executions"
    v2_runs = (await client.get(listing, params={"engine": "v2"}, headers=alice.headers)).json()
    assert [run["engine"] for run in v2_runs["data"]] == ["v2"]
    assert v2_runs["data"][0]["version_number"] == 1
    v1_runs = await client.get(listing, params={"engine": "v1", "limit": 2}, headers=alice.headers)
    page = v1_runs.json()
    assert [run["engine"] for run in page["data"]] == ["v1", "v1"]
    rest = await client.get(
        listing,
        params={"engine": "v1", "limit": 2, "cursor": page["next_cursor"]},
        headers=alice.headers,
    )
    assert [run["engine"] for run in rest.json()["data"]] == ["v1"]
    assert rest.json()["next_cursor"] is None

    for bad in ("v3", "V2", "", "v1,v2"):
        problem = assert_problem(
            await client.get(listing, params={"engine": bad}, headers=alice.headers), 422
        )
        assert "engine" in str(problem["errors"]), problem
    assert_problem(await client.get(listing, params={"engine": "v1"}, headers=bob.headers), 404)


async def test_a_bot_without_runs_has_an_empty_breakdown(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    created = await client.post("/api/v1/bots", json={"name": "quiet"}, headers=alice.headers)
    base = f"/api/v1/bots/{created.json()['id']}/workflow-executions"
    stats = (await client.get(f"{base}/statistics", headers=alice.headers)).json()
    assert (stats["total_runs"], stats["by_engine"]) == (0, [])
    listed = (await client.get(base, params={"engine": "v2"}, headers=alice.headers)).json()
    assert listed == {"data": [], "next_cursor": None}
