"""Execution records over HTTP: list with cursor and filters, detail, statistics, access rules."""

from __future__ import annotations

import httpx
import pytest

from snapagent.errors import ProviderError
from snapagent.testing import ScriptedChatModel

from .conftest import ApiUser, assert_problem
from .test_chat_api import CHAT, publish_bot


@pytest.fixture
async def bot_with_runs(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> str:
    """Four chats: three answered, one failed at the provider (newest)."""
    for reply in ("one", "two", "three"):
        chat_model.enqueue(reply)
    chat_model.enqueue_error(ProviderError("boom", provider="scripted"))
    bot_id = await publish_bot(client, alice)
    for i in range(4):
        await client.post(CHAT, json={"bot_id": bot_id, "message": f"q{i}"}, headers=alice.headers)
    return bot_id


async def test_list_pages_with_a_cursor_and_filters(
    client: httpx.AsyncClient, alice: ApiUser, bot_with_runs: str
) -> None:
    url = f"/api/v1/bots/{bot_with_runs}/workflow-executions"
    first = await client.get(f"{url}?limit=3", headers=alice.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [r["status"] for r in page["data"]] == ["failed", "succeeded", "succeeded"]
    rest = await client.get(
        url, params={"limit": 3, "cursor": page["next_cursor"]}, headers=alice.headers
    )
    assert len(rest.json()["data"]) == 1
    assert rest.json()["next_cursor"] is None
    seen = {r["id"] for r in page["data"] + rest.json()["data"]}
    assert len(seen) == 4

    failed = await client.get(f"{url}?status=failed", headers=alice.headers)
    assert [r["error_type"] for r in failed.json()["data"]] == ["ProviderError"]
    assert len((await client.get(f"{url}?version=1", headers=alice.headers)).json()["data"]) == 4
    assert (await client.get(f"{url}?version=2", headers=alice.headers)).json()["data"] == []
    odd_cursor = "MDAwMS0wMS0wMVQwMDowMDowMCswMTowMHxhYmM"  # 0001-01-01T00:00:00+01:00|abc
    for bad in (
        "limit=0",
        "limit=101",
        "status=running",
        "cursor=garbage",
        f"cursor={odd_cursor}",
        "version=0",
        f"version={2**40}",
    ):
        assert_problem(await client.get(f"{url}?{bad}", headers=alice.headers), 422)


async def test_detail_has_node_executions(
    client: httpx.AsyncClient, alice: ApiUser, bot_with_runs: str
) -> None:
    url = f"/api/v1/bots/{bot_with_runs}/workflow-executions"
    newest_ok = (await client.get(f"{url}?status=succeeded&limit=1", headers=alice.headers)).json()
    run_id = newest_ok["data"][0]["id"]
    detail = (await client.get(f"{url}/{run_id}", headers=alice.headers)).json()
    assert detail["outputs"] == {"answer": "three"}
    assert detail["inputs"]["query"] == "q2"
    nodes = detail["nodes"]
    assert [n["index"] for n in nodes] == sorted(n["index"] for n in nodes)
    assert nodes[0]["node_id"] == "start"
    llm = next(n for n in nodes if n["node_type"] == "llm")
    assert llm["status"] == "succeeded"
    assert llm["output_tokens"] == 1
    assert llm["started_at"] is not None
    assert_problem(await client.get(f"{url}/not-a-run", headers=alice.headers), 404)


async def test_statistics(client: httpx.AsyncClient, alice: ApiUser, bot_with_runs: str) -> None:
    url = f"/api/v1/bots/{bot_with_runs}/workflow-executions/statistics"
    stats = (await client.get(url, headers=alice.headers)).json()
    assert (stats["total_runs"], stats["succeeded"], stats["failed"]) == (4, 3, 1)
    assert stats["success_rate"] == 0.75
    assert stats["p95_latency_ms"] >= stats["p50_latency_ms"] > 0
    assert len(stats["daily"]) == 1
    assert stats["daily"][0]["runs"] == 4
    assert [v["version_number"] for v in stats["versions"]] == [1]
    llm = next(n for n in stats["nodes"] if n["node_type"] == "llm")
    assert (llm["executions"], llm["failures"]) == (4, 1)

    empty = await client.get(
        url, params={"start": "2001-01-01T00:00:00Z", "end": "2001-02-01"}, headers=alice.headers
    )
    assert empty.status_code == 200, empty.text
    body = empty.json()
    assert body["total_runs"] == 0
    assert (body["daily"], body["nodes"], body["versions"]) == ([], [], [])
    backwards = {"start": "2030-01-01T00:00:00Z", "end": "2001-01-01T00:00:00Z"}
    assert_problem(await client.get(url, params=backwards, headers=alice.headers), 422)
    assert_problem(await client.get(f"{url}?start=yesterday", headers=alice.headers), 422)
    no_utc = {"start": "0001-01-01T00:00:00+01:00"}
    assert_problem(await client.get(url, params=no_utc, headers=alice.headers), 422)


@pytest.mark.parametrize("suffix", ["", "/statistics", "/{run}"])
async def test_routes_need_auth_and_ownership(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, bot_with_runs: str, suffix: str
) -> None:
    base = f"/api/v1/bots/{bot_with_runs}/workflow-executions"
    run_id = (await client.get(base, headers=alice.headers)).json()["data"][0]["id"]
    url = base + suffix.format(run=run_id)
    assert (await client.get(url, headers=alice.headers)).status_code == 200
    assert_problem(await client.get(url), 401)
    assert_problem(await client.get(url, headers=bob.headers), 404)
    # bob's own bot does not open alice's run either
    bob_bot = await publish_bot(client, bob, "bob's")
    other = f"/api/v1/bots/{bob_bot}/workflow-executions/{run_id}"
    assert_problem(await client.get(other, headers=bob.headers), 404)
