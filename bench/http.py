"""HTTP benchmark: `/health` against non-streaming `/api/v1/chat`, one server, one run (issue 5).

Starts uvicorn on 127.0.0.1 in a second process (SQLite in a temporary data directory, the
embedded defaults), seeds a user and a published start -> llm(offline) -> end bot through the
API, then drives both endpoints with an async httpx load generator: N concurrent connections
(32 by default), each sending requests back to back for a fixed duration (or up to a fixed
count), alternating between the endpoints in slices (`--rounds`) so that drifting background
load affects both alike. Every chat request opens a new session and has its run recorded.

Prints requests/s, p50 and p99 latency for both endpoints and the ratio, then PASS/FAIL for the
target: chat >= 25% of /health's throughput, with no errors. Exits 1 on FAIL (`--no-fail`:
report only).

    .venv/bin/python bench/http.py                      # 32 connections, 10 s per endpoint
    .venv/bin/python bench/http.py --duration 3 --connections 8 --no-fail   # a quick look
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import _live_servers as live

TARGET_RATIO = 0.25
QUESTIONS = ("What is SnapAgent?", "How do refunds work?", "환불은 어떻게 하나요?")


@dataclass(slots=True)
class Load:
    """What one endpoint's phase measured."""

    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    elapsed_s: float = 0.0

    def absorb(self, other: Load) -> None:
        """Add another slice of the same endpoint."""
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        self.first_error = self.first_error or other.first_error
        self.elapsed_s += other.elapsed_s

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def serve(port: int) -> None:
    """The server process: the real app on uvicorn, access log off (it is not what we measure)."""
    import uvicorn

    from snapagent.api.app import create_app

    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def seed(base: str) -> tuple[dict[str, str], str]:
    """The shared seed (a user, the offline bot, published); one chat checks that it answers."""
    headers, bot_id = await live.seed(base, email="bench@example.com")
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        body = {"bot_id": bot_id, "message": QUESTIONS[0]}
        (await http.post("/api/v1/chat", json=body, headers=headers)).raise_for_status()
    return headers, bot_id


async def drive(
    http: httpx.AsyncClient,
    name: str,
    request: Any,
    *,
    connections: int,
    duration_s: float,
    max_requests: int | None,
) -> Load:
    """``connections`` workers send back to back until the time or the request budget is spent."""
    load = Load(name)
    budget = [max_requests if max_requests is not None else -1]
    stop_at = time.perf_counter() + duration_s

    async def worker(number: int) -> None:
        sent = 0
        while time.perf_counter() < stop_at and budget[0] != 0:
            budget[0] -= 1
            t0 = time.perf_counter()
            try:
                response = await request(http, number + sent * connections)
                ok = response.status_code == 200
                detail = f"{response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
            sent += 1
            if ok:
                load.latencies_ms.append((time.perf_counter() - t0) * 1000)
            else:
                load.errors += 1
                load.first_error = load.first_error or detail

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    load.elapsed_s = time.perf_counter() - t0
    return load


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="snapagent-bench-http-") as tmp:
        workdir = Path(tmp)  # the data directory: the embedded SQLite, no DATABASE_URL
        command = (sys.executable, __file__, "--serve")
        server = live.start_server(live.server_env(None, workdir), workdir, command=command)
        base = server.base
        try:
            await asyncio.to_thread(live.wait_ready, server, 60)
            headers, bot_id = await seed(base)

            async def health(http: httpx.AsyncClient, _n: int) -> httpx.Response:
                return await http.get("/health")

            async def chat(http: httpx.AsyncClient, n: int) -> httpx.Response:
                body = {"bot_id": bot_id, "message": QUESTIONS[n % len(QUESTIONS)]}
                return await http.post("/api/v1/chat", json=body, headers=headers)

            limits = httpx.Limits(
                max_connections=args.connections, max_keepalive_connections=args.connections
            )
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
                options = {
                    "connections": args.connections,
                    "max_requests": args.requests,
                }
                # Warm both paths (connections, caches, compiled plan) before measuring.
                for fn in (health, chat):
                    await drive(http, "warmup", fn, duration_s=args.warmup, **options)
                # Alternate the endpoints in slices so drifting background load on a shared
                # machine hits both alike; each endpoint gets `duration` seconds in total.
                loads = [Load("health"), Load("chat")]
                cap = None if args.requests is None else max(1, args.requests // args.rounds)
                options["max_requests"] = cap
                for _ in range(args.rounds):
                    for load, fn in zip(loads, (health, chat), strict=True):
                        part = await drive(
                            http, load.name, fn, duration_s=args.duration / args.rounds, **options
                        )
                        load.absorb(part)
        finally:
            server.stop(timeout_s=30)
    health_load, chat_load = loads
    ratio = chat_load.rps / health_load.rps if health_load.rps else 0.0
    passed = ratio >= TARGET_RATIO and not (health_load.errors or chat_load.errors)
    return {
        "python": platform.python_version(),
        "connections": args.connections,
        "duration_s": args.duration,
        "endpoints": {
            load.name: {
                "requests": load.requests,
                "errors": load.errors,
                "first_error": load.first_error,
                "rps": round(load.rps, 1),
                "p50_ms": round(load.percentile(50), 2),
                "p99_ms": round(load.percentile(99), 2),
            }
            for load in loads
        },
        "chat_to_health": round(ratio, 3),
        "passed": passed,
    }


def report(result: dict[str, Any]) -> None:
    print(f"HTTP benchmark: {result['connections']} connections, {result['duration_s']} s each")
    print(
        f"{'endpoint':<10} {'requests':>9} {'errors':>7} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}"
    )
    for name, row in result["endpoints"].items():
        print(
            f"{name:<10} {row['requests']:>9} {row['errors']:>9} {row['rps']:>9.1f} "
            f"{row['p50_ms']:>9.2f} {row['p99_ms']:>9.2f}"
        )
        if row["first_error"]:
            print(f"  first error: {row['first_error']}")
    verdict = "PASS" if result["passed"] else "FAIL"
    print(
        f"{verdict}: chat throughput is {result['chat_to_health']:.1%} of /health "
        f"(target >= {TARGET_RATIO:.0%}, no errors)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint")
    parser.add_argument("--requests", type=int, default=None, help="cap per endpoint")
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating slices the duration is cut into"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even on FAIL")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.port)
        return 0
    if args.connections < 1 or args.duration <= 0 or args.rounds < 1:
        parser.error("--connections and --rounds must be >= 1 and --duration > 0")
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2, ensure_ascii=False)) if args.json else report(result)
    return 0 if result["passed"] or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
