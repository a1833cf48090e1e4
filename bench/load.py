"""Load on several replicas: 2 `snapagent serve` processes on one PostgreSQL (issue 7).

Starts a PostgreSQL of its own (the pgserver wheel; or ``--database-url``), migrates it
(``snapagent db upgrade``), starts the replicas on loopback ports and seeds a published
start -> llm(offline) -> end bot. Then ``--clients`` clients (32) send requests back to back
for ``--duration`` seconds (120): a mix of JSON chat, streamed chat (SSE, read to the last
event) and execution reads (list + one run). Every request goes to the next replica in turn,
and clients share chat sessions in pairs, so one session is written from both processes.

Afterwards the database is checked, not the responses alone: every answered chat's user
message, its assistant message (right after it, same run id) and its run record (succeeded,
with node rows) must be there, and every session's messages strictly ordered (user, then its
answer). Prints p50/p99 per request kind and PASS/FAIL: zero 5xx (zero errors of any kind) and
nothing missing. Exits 1 on FAIL.

    .venv/bin/python bench/load.py                           # 32 clients x 120 s, 2 replicas
    .venv/bin/python bench/load.py --clients 8 --duration 10 # the short version the tests run
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import _live_servers as live
from snapagent.testing.postgres import PostgresServer

KINDS = ("chat", "stream", "executions")
# Out of 10 requests: 4 JSON chats, 3 streamed chats, 3 execution reads.
MIX = ("chat",) * 4 + ("stream",) * 3 + ("executions",) * 3
QUESTIONS = ("What is SnapAgent?", "How do refunds work?", "환불은 어떻게 하나요?")


@dataclass
class LoadReport:
    """What a run measured and what the database check found."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    chats: list[tuple[str, str, str]] = field(default_factory=list)  # (session, message, run)
    missing: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 or status == 0)

    @property
    def passed(self) -> bool:
        return not self.errors and not self.missing and self.server_errors == 0 and bool(self.chats)

    def percentile(self, kind: str, p: float) -> float:
        values = sorted(self.latencies_ms[kind])
        if not values:
            return 0.0
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


async def _one(
    kind: str,
    http: httpx.AsyncClient,
    headers: dict[str, str],
    bot_id: str,
    session: str,
    message: str,
    report: LoadReport,
) -> None:
    t0 = time.perf_counter()
    if kind == "executions":
        path = f"/api/v1/bots/{bot_id}/workflow-executions"
        response = await http.get(path, params={"limit": 5}, headers=headers)
        status = response.status_code
        if status == 200 and response.json()["data"]:
            run_id = response.json()["data"][0]["id"]
            response = await http.get(f"{path}/{run_id}", headers=headers)
            status = response.status_code
        detail = response.text[:300]
    else:
        call = live.chat if kind == "chat" else live.stream_chat
        payload = {"bot_id": bot_id, "message": message, "session_id": session}
        outcome = await call(http, headers, payload)
        status, detail = outcome.status, str(outcome.body)[:300]
        if status == 200 and outcome.run_id:
            report.chats.append((session, message, outcome.run_id))
    report.statuses[status] += 1
    if status == 200:
        report.latencies_ms[kind].append((time.perf_counter() - t0) * 1000)
    else:
        report.errors.append(f"{kind} -> {status}: {detail}")


async def drive(
    bases: list[str],
    headers: dict[str, str],
    bot_id: str,
    *,
    clients: int,
    duration_s: float,
) -> LoadReport:
    """``clients`` workers, requests back to back, replicas in turn, sessions shared in pairs."""
    report = LoadReport()
    stop_at = time.perf_counter() + duration_s
    pools = [httpx.AsyncClient(base_url=base, timeout=60) for base in bases]
    turn = itertools.count()

    async def client(number: int) -> None:
        session = f"load-{number // 2}"
        for sent in itertools.count():
            if time.perf_counter() >= stop_at:
                return
            kind = MIX[(number + sent * 3) % len(MIX)]
            message = f"{QUESTIONS[sent % len(QUESTIONS)]} (client {number}, #{sent})"
            http = pools[next(turn) % len(pools)]
            try:
                await _one(kind, http, headers, bot_id, session, message, report)
            except httpx.HTTPError as exc:
                report.statuses[0] += 1
                report.errors.append(f"{kind} -> {type(exc).__name__}: {exc}")

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(client(i) for i in range(clients)))
    finally:
        for pool in pools:
            await pool.aclose()
    report.elapsed_s = time.perf_counter() - t0
    return report


async def verify(database_url: str, report: LoadReport) -> None:
    """Count in the database what every answered chat must have left; fill ``report.missing``."""
    from sqlalchemy import select

    from snapagent.db.models.chat import ChatMessageRecord, ChatSession
    from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
    from snapagent.db.session import Database

    db = Database(database_url)
    try:
        async with db.session() as session:
            rows = await session.execute(
                select(
                    ChatSession.session_key,
                    ChatMessageRecord.seq,
                    ChatMessageRecord.role,
                    ChatMessageRecord.content,
                    ChatMessageRecord.run_id,
                )
                .join(ChatSession, ChatSession.id == ChatMessageRecord.session_id)
                .order_by(ChatSession.session_key, ChatMessageRecord.seq)
            )
            messages = list(rows)
            statuses = await session.execute(
                select(WorkflowExecutionRun.id, WorkflowExecutionRun.status)
            )
            runs = dict(statuses.all())
            with_nodes = set(await session.scalars(select(WorkflowNodeExecution.run_id).distinct()))
    finally:
        await db.dispose()
    by_seq = {(key, seq): (role, content, run) for key, seq, role, content, run in messages}
    user_at = {(key, content): seq for key, seq, role, content, _ in messages if role == "user"}
    for key, message, run_id in report.chats:
        seq = user_at.get((key, message))
        if seq is None:
            report.missing.append(f"user message {message!r} in {key}")
            continue
        answer = by_seq.get((key, seq + 1))
        if answer is None or answer[0] != "assistant" or answer[2] != run_id:
            report.missing.append(f"assistant message right after {message!r} (run {run_id})")
        if runs.get(run_id) != "succeeded" or run_id not in with_nodes:
            report.missing.append(f"run record {run_id} (status {runs.get(run_id)}) with nodes")
    for (key, seq), (role, _content, _run) in by_seq.items():
        # Order: an answer always directly follows its own question.
        if role == "assistant" and by_seq.get((key, seq - 1), ("",))[0] != "user":
            report.missing.append(f"assistant message {key}#{seq} without its user message")


def print_report(report: LoadReport, clients: int, servers: int) -> None:
    total = sum(report.statuses.values())
    print(f"{servers} replicas, {clients} clients, {report.elapsed_s:.1f} s, {total} requests")
    print(f"{'kind':<12}{'ok':>8}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}")
    for kind in KINDS:
        done = len(report.latencies_ms[kind])
        rate = done / report.elapsed_s if report.elapsed_s else 0.0
        p50, p99 = report.percentile(kind, 50), report.percentile(kind, 99)
        print(f"{kind:<12}{done:>8}{rate:>9.1f}{p50:>10.0f}{p99:>10.0f}")
    print(
        f"statuses: {dict(sorted(report.statuses.items()))}; 5xx/transport: {report.server_errors}"
    )
    print(f"chats checked in the database: {len(report.chats)}; missing: {len(report.missing)}")
    for line in (report.errors + report.missing)[:10]:
        print(f"  ! {line}")
    print("PASS" if report.passed else "FAIL")


def run_load(
    database_url: str, workdir: Path, *, clients: int, duration_s: float, servers: int = 2
) -> LoadReport:
    """Migrate, start the replicas, seed, drive, stop, verify; the report."""
    live.migrate(database_url)
    replicas = live.start_servers(database_url, servers, workdir, "--log-level", "warning")
    try:
        headers, bot_id = asyncio.run(live.seed(replicas[0].base))
        bases = [r.base for r in replicas]
        report = asyncio.run(drive(bases, headers, bot_id, clients=clients, duration_s=duration_s))
    finally:
        live.stop_all(replicas)
    asyncio.run(verify(database_url, report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of load")
    parser.add_argument("--servers", type=int, default=2, help="replicas (processes)")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: pgserver)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="snapagent-load-") as tmp:
        workdir = Path(tmp)
        options: dict[str, Any] = {
            "clients": args.clients,
            "duration_s": args.duration,
            "servers": args.servers,
        }
        if args.database_url:
            report = run_load(args.database_url, workdir, **options)
        else:
            with PostgresServer() as pg:
                report = run_load(pg.create_database("bench_load"), workdir, **options)
    print_report(report, args.clients, args.servers)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
