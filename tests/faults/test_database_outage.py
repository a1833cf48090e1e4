"""PostgreSQL stopped under load and started again, with a real `snapagent serve` on it.

The database is a PostgreSQL of this test's own (so stopping it disturbs no other test).
While it is down, requests fail fast with 503 problem+json (never a hang, never a 500); once it
is back, the same server process answers again - no restart. Afterwards nothing is half-written:

- every run row has its node rows (a run is written whole, in one transaction, or not at all);
- every assistant message has its run record (stored in the same transaction);
- every chat answered 200 has its question, its answer right after it and its run;
- a question may stand without an answer only for a turn that failed (its user message is
  kept, as for a provider failure) - these are counted, not forbidden.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from replicas.live import live
from snapagent.db.migrate import upgrade
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
from snapagent.db.session import Database
from snapagent.testing.postgres import PostgresServer

pytestmark = pytest.mark.postgres

CLIENT_TIMEOUT_S = 20  # a request that hangs past this fails the test ("fail fast")


async def _client_loop(
    base: str, headers: dict[str, str], bot_id: str, number: int, stop: asyncio.Event,
    seen: Counter[tuple[str, int]], answered: list[tuple[str, str]],
) -> None:  # fmt: skip
    async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT_S) as http:
        for sent in range(10_000):
            if stop.is_set():
                return
            kind = "stream" if sent % 2 else "chat"
            message = f"outage {number}-{sent}"
            call = live.stream_chat if kind == "stream" else live.chat
            payload = {"bot_id": bot_id, "message": message, "session_id": f"outage-{number}"}
            try:
                outcome = await call(http, headers, payload)
            except httpx.TransportError as exc:  # the connection cut: counted, fails the test
                seen[(f"{kind}: {type(exc).__name__}", -1)] += 1
                continue
            seen[(kind, outcome.status)] += 1
            if outcome.status == 200:
                answered.append((message, str(outcome.run_id)))
            elif outcome.status == 503 and kind == "chat":
                assert outcome.content_type.startswith("application/problem+json")
                assert outcome.body["status"] == 503
            await asyncio.sleep(0.05)


async def test_database_outage_fails_fast_with_503_and_recovers_without_restart(
    tmp_path: Path,
) -> None:
    with PostgresServer() as pg:  # our own: stopping it disturbs no other test
        url = pg.create_database("outage")
        # The deploy step in-process (`snapagent db upgrade` runs the same `upgrade`; tests/cli
        # covers the command): a second cold start of the product would only cost time here.
        await _upgrade(url)
        (server,) = await asyncio.to_thread(live.start_servers, url, 1, tmp_path)
        try:
            headers, bot_id = await live.seed(server.base)
            stop = asyncio.Event()
            seen: Counter[tuple[str, int]] = Counter()
            answered: list[tuple[str, str]] = []
            clients = [
                asyncio.create_task(
                    _client_loop(server.base, headers, bot_id, i, stop, seen, answered)
                )
                for i in range(4)
            ]
            await asyncio.sleep(1)  # load running
            async with httpx.AsyncClient(base_url=server.base, timeout=CLIENT_TIMEOUT_S) as http:
                # (/health keeps its probe's connection from here: the outage must reach it.)
                up = await http.get("/health")
                up_burst = await _health_burst(server.base, "up")
                await asyncio.to_thread(pg.stop)
                down = [await http.get("/health") for _ in range(3)]
                down_burst = await _health_burst(server.base, "down")
                await asyncio.sleep(2)  # load against the stopped database
                await asyncio.to_thread(pg.start)
                recovered = await _until_ok(http, headers, bot_id)
                back = await http.get("/health")
            await asyncio.sleep(1)  # load against the restarted database
            stop.set()
            await asyncio.gather(*clients)
        finally:
            await asyncio.to_thread(live.stop_all, [server])

        assert up.status_code == 200, up.text
        assert all(r.status_code == 503 for r in down)
        # Concurrent /health requests share probes, and none is answered from a probe that
        # started before it came: every request of the burst after the stop sees the outage.
        assert [r.status_code for r in up_burst] == [200] * BURST * ROUNDS
        assert [r.status_code for r in down_burst] == [503] * BURST * ROUNDS
        assert all(r.json()["database"]["status"] == "unavailable" for r in down_burst)
        assert [r.headers["x-request-id"] for r in down_burst] == _burst_ids("down")
        # Each failed probe logs one warning, under the request id of the request whose call
        # started the probing: requests that came while a probe ran shared the next one (34
        # probes for 160 requests in one run on the shared machine, 81 in another: how many share
        # depends on how the clients' requests overlap, so the bound is only that some did -
        # without sharing, every request would probe and log its own).
        probes = _unreachable_logged(server.log(), _burst_ids("down"))
        assert 1 <= probes < BURST * ROUNDS, probes
        assert back.status_code == 200, back.text
        assert recovered.status_code == 200, recovered.text
        statuses = {status for _kind, status in seen}
        # Failures are 503s: never a 500, a cut connection or a hang.
        assert statuses <= {200, 503}, (seen, server.log()[-4000:])
        assert seen[("chat", 503)] > 0, seen
        assert seen[("chat", 200)] > 0, seen
        await _check_nothing_half_written(url, answered)


BURST = 8  # clients asking /health at once, each on its own connection
ROUNDS = 20  # requests each, one after the other


def _burst_ids(name: str) -> list[str]:
    return [f"burst-{name}-{c}-{r}" for c in range(BURST) for r in range(ROUNDS)]


async def _health_burst(base: str, name: str) -> list[httpx.Response]:
    """``BURST`` clients asking ``GET /health`` ``ROUNDS`` times each, at once; request ids
    ``burst-<name>-<client>-<round>``, answers in that order."""

    async def client(number: int) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=CLIENT_TIMEOUT_S) as http:
            await http.get("/metrics")  # connected before the burst starts
            return [
                await http.get("/health", headers={"X-Request-ID": f"burst-{name}-{number}-{r}"})
                for r in range(ROUNDS)
            ]

    answers = await asyncio.gather(*(client(c) for c in range(BURST)))
    return [response for per_client in answers for response in per_client]


def _unreachable_logged(log: str, request_ids: list[str]) -> int:
    """How many "database ... unreachable" warnings the server logged for these requests."""
    ids = set(request_ids)
    count = 0
    for line in log.splitlines():
        if "unreachable" not in line or not line.startswith("{"):
            continue
        record = json.loads(line)
        count += record.get("logger") == "snapagent.db.session" and record["request_id"] in ids
    return count


async def _upgrade(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


async def _until_ok(
    http: httpx.AsyncClient, headers: dict[str, str], bot_id: str
) -> httpx.Response:
    """The same server answers a chat again once the database is back (bounded retries)."""
    deadline = time.monotonic() + 60
    payload = {"bot_id": bot_id, "message": "are you back?"}
    response = await http.post("/api/v1/chat", json=payload, headers=headers)
    while response.status_code != 200 and time.monotonic() < deadline:
        assert response.status_code == 503, response.text
        await asyncio.sleep(0.5)
        response = await http.post("/api/v1/chat", json=payload, headers=headers)
    return response


async def _check_nothing_half_written(url: str, answered: list[tuple[str, str]]) -> None:
    db = Database(url)
    try:
        async with db.session() as session:
            runs = dict(
                (
                    await session.execute(
                        select(WorkflowExecutionRun.id, WorkflowExecutionRun.status)
                    )
                ).all()
            )
            node_counts = dict(
                (await session.execute(
                    select(WorkflowNodeExecution.run_id, func.count())
                    .group_by(WorkflowNodeExecution.run_id)
                )).all()
            )  # fmt: skip
            messages = (
                await session.execute(
                    select(ChatMessageRecord.session_id, ChatMessageRecord.seq,
                           ChatMessageRecord.role, ChatMessageRecord.content,
                           ChatMessageRecord.run_id)
                )
            ).all()  # fmt: skip
    finally:
        await db.dispose()
    assert all(node_counts.get(run_id, 0) > 0 for run_id in runs)  # no run without its nodes
    by_seq = {(chat, seq): (role, content, run) for chat, seq, role, content, run in messages}
    for (_chat, _seq), (role, _content, run_id) in by_seq.items():
        if role == "assistant":
            assert run_id in runs  # no answer without its run
    user_at = {content: key for key, (role, content, _) in by_seq.items() if role == "user"}
    for message, run_id in answered:
        chat, seq = user_at[message]
        assert by_seq[(chat, seq + 1)][0::2] == ("assistant", run_id)
        assert runs[run_id] == "succeeded"
    unanswered = sum(
        1 for (chat, seq), (role, _, _) in by_seq.items()
        if role == "user" and by_seq.get((chat, seq + 1), ("",))[0] != "assistant"
    )  # fmt: skip
    print(f"questions kept without an answer (turns that failed): {unanswered}")
