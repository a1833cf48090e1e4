"""Debug runs attacked through a real `snapagent serve` (``SNAPAGENT_TEMPLATE_TIMEOUT_S=1``).

Another account's bot, version, node or run is a 404 on every debugging route - a run id used as
``from_run_id`` on one's own version included - and nothing of theirs is run or recorded. A
draft whose template never ends, run as a version, a node alone or a replay, ends at the
template deadline with the failure named, while ``/health`` keeps answering within 200 ms;
hostile request bodies (deeply nested inputs, too many inputs, forged cursors) are clear 4xx.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .attack import AttackServer, HealthProbe, attack_server, publish, register
from .test_template_attacks import FOREVER, MARGIN_S, TEMPLATE_TIMEOUT_S, template

ECHO = template("{{ query | length }}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    with attack_server(
        tmp_path_factory.mktemp("debug-attacks"),
        SNAPAGENT_TEMPLATE_TIMEOUT_S=str(TEMPLATE_TIMEOUT_S),
    ) as running:
        yield running


async def draft_id(http: httpx.AsyncClient, bot_id: str) -> str:
    """The bot's draft (a new one, a copy of the live version, when it has none)."""
    versions = f"/api/v1/bots/{bot_id}/workflow-versions"
    listed = (await http.get(versions)).raise_for_status().json()["data"]
    drafts = [v["id"] for v in listed if v["status"] == "draft"]
    if drafts:
        return str(drafts[0])
    return str((await http.post(versions, json={})).raise_for_status().json()["id"])


async def chat_run(http: httpx.AsyncClient, bot_id: str) -> str:
    """A chat turn's run id."""
    chat = await http.post("/api/v1/chat", json={"bot_id": bot_id, "message": "hello"})
    return str(chat.raise_for_status().json()["run_id"])


def account_with_bot(server: AttackServer, email: str) -> tuple[dict[str, str], str]:
    """A new account's headers and the path of its bot (publishing ``ECHO``)."""
    headers = register(server, email)
    return headers, f"/api/v1/bots/{publish(server, headers, ECHO)}"


async def test_another_accounts_ids_reach_nothing(server: AttackServer) -> None:
    alice = register(server, "alice@example.com")
    mallory = register(server, "mallory@example.com")
    alices_bot = publish(server, alice, ECHO)
    mallorys_bot = publish(server, mallory, ECHO)
    async with httpx.AsyncClient(base_url=server.base, headers=alice, timeout=60) as http:
        run_id = await chat_run(http, alices_bot)
        listed = await http.get(f"/api/v1/bots/{alices_bot}/workflow-versions")
        live = listed.json()["data"][0]["id"]
        alices_draft = await draft_id(http, alices_bot)
    async with httpx.AsyncClient(base_url=server.base, headers=mallory, timeout=60) as http:
        own = (await http.get(f"/api/v1/bots/{mallorys_bot}/workflow-versions")).json()
        own = own["data"][0]["id"]

    a = f"/api/v1/bots/{alices_bot}"
    m = f"/api/v1/bots/{mallorys_bot}"
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        ("POST", f"{a}/workflow-versions/{live}/run", {"message": "hi"}),
        ("POST", f"{a}/workflow-versions/{alices_draft}/run", {"message": "hi"}),
        ("POST", f"{a}/workflow-versions/{live}/nodes/t/run", {"inputs": {"query": "x"}}),
        ("POST", f"{a}/workflow-versions/{live}/nodes/t/run", {"from_run_id": run_id}),
        ("POST", f"{a}/workflow-executions/{run_id}/rerun", {"from_node_id": "t"}),
        ("POST", f"{a}/workflow-versions/{live}/rollback", None),
        ("DELETE", f"{a}/workflow-versions/{alices_draft}", None),
        ("GET", f"{a}/workflow-executions/{run_id}", None),
        ("GET", f"{a}/workflow-executions?trigger=debug", None),
        # Alice's ids through Mallory's own bot and version.
        ("POST", f"{m}/workflow-versions/{own}/nodes/t/run", {"from_run_id": run_id}),
        ("POST", f"{m}/workflow-executions/{run_id}/rerun", {"from_node_id": "t"}),
        ("POST", f"{m}/workflow-executions/{run_id}/rerun",
         {"from_node_id": "t", "version_id": live}),
        ("POST", f"{m}/workflow-versions/{live}/run", {"message": "hi"}),
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=server.base, headers=mallory, timeout=60) as http:
        for method, path, body in attempts:
            response = await http.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert "hello" not in response.text
    async with httpx.AsyncClient(base_url=server.base, headers=alice, timeout=60) as http:
        runs = (await http.get(f"{a}/workflow-executions")).json()["data"]
        assert [r["id"] for r in runs] == [run_id]  # nothing ran on Alice's bot
        versions = (await http.get(f"{a}/workflow-versions")).json()["data"]
        assert [v["status"] for v in versions] == ["draft", "published"]  # nor was anything lost


async def test_endless_templates_in_debug_runs_end_at_the_deadline(server: AttackServer) -> None:
    mallory, base = account_with_bot(server, "looper@example.com")
    bot_id = base.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=server.base, headers=mallory, timeout=60) as http:
        run_id = await chat_run(http, bot_id)
        draft = await draft_id(http, bot_id)
        revision = (await http.get(f"{base}/workflow-versions/{draft}")).json()["revision"]
        saved = await http.put(
            f"{base}/workflow-versions/{draft}",
            json={"graph": template(FOREVER), "revision": revision},
        )
        saved.raise_for_status()

    async def timed(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
        began = time.perf_counter()
        response = await http.post(path, json=body)
        assert time.perf_counter() - began < TEMPLATE_TIMEOUT_S + MARGIN_S + 2, path
        return response

    async with httpx.AsyncClient(base_url=server.base, headers=mallory, timeout=60) as http:
        async with HealthProbe(server.base) as probe:
            version_run, node_run, replay = await asyncio.gather(
                timed(http, f"{base}/workflow-versions/{draft}/run", {"message": "hi"}),
                timed(http, f"{base}/workflow-versions/{draft}/nodes/t/run",
                      {"from_run_id": run_id}),
                timed(http, f"{base}/workflow-executions/{run_id}/rerun",
                      {"from_node_id": "t", "version_id": draft}),
            )  # fmt: skip
        probe.assert_responsive()
    for response in (version_run, replay):
        assert response.status_code in (500, 504), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert node_run.status_code == 200, node_run.text
    assert node_run.json()["status"] == "failed"
    assert "took longer than 1 s" in node_run.json()["error"]["message"]

    async with httpx.AsyncClient(base_url=server.base, headers=mallory, timeout=60) as http:
        debug = (await http.get(f"{base}/workflow-executions?trigger=debug")).json()["data"]
        assert len(debug) == 3
        assert {r["status"] for r in debug} == {"failed"}
        stats = (await http.get(f"{base}/workflow-executions/statistics")).json()
        assert stats["total_runs"] == 1  # the one chat; debug runs never count


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_hostile_debug_bodies_are_clear_4xx(server: AttackServer) -> None:
    mallory, base = account_with_bot(server, "bodies@example.com")
    bot_id = base.rsplit("/", 1)[1]
    async with httpx.AsyncClient(base_url=server.base, headers=mallory, timeout=60) as http:
        draft = await draft_id(http, bot_id)
    node = f"{base}/workflow-versions/{draft}/nodes/t/run"
    json_headers = {**mallory, "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=server.base, headers=mallory, timeout=60) as http:
        async with HealthProbe(server.base) as probe:
            for _ in range(5):  # long enough for the probe to answer several times
                deep = await http.post(
                    node,
                    content=f'{{"inputs": {{"query": {nested(100_000)}}}}}',
                    headers=json_headers,
                )
                wide = await http.post(node, json={"inputs": {f"p{i}": i for i in range(10_000)}})
                both = await http.post(node, json={"inputs": {"query": "x"}, "from_run_id": "r"})
                unknown = await http.post(
                    f"{base}/workflow-versions/{draft}/nodes/nope/run", json={"inputs": {}}
                )
                forged = await http.get(f"{base}/workflow-executions", params={"cursor": "x" * 999})
        probe.assert_responsive()
    for response in (deep, wide, both, forged):
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert unknown.status_code == 404
    assert "has no node 'nope'" in unknown.json()["detail"]
