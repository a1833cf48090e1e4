"""HTTP benchmark: SnapAgent's chat path against a floor app on the same machine (issue 13).

Starts, in one run: the floor (`bench/_floor_app.py`, a plain FastAPI app doing the same shape of
work without a database) and `snapagent serve` - one worker and two - on SQLite (a temporary
data directory) and on PostgreSQL (a pgserver of its own, or ``--database-url``), all with the
same uvicorn settings. Each SnapAgent is seeded with the demo (`snapagent demo --no-serve`: a
user, an API key, the demo knowledge base with its bot) and a start -> llm(offline) -> end bot.
Then `wrk` (see `bench/_wrk.py`: a C client, never the bottleneck) drives each endpoint with
``--connections`` keep-alive connections, in slices that alternate floor and SnapAgent so that
drifting background load hits both alike; every figure is the median over ``--rounds`` slices.

Endpoints and targets (share = SnapAgent's req/s over the floor's, same worker count):

- ``GET /health`` >= 50% of the floor's ``/health``;
- recorded chat (start -> llm(offline) -> end, every request a new session, every run recorded)
  >= 10% of the floor's JSON POST, p99 < 150 ms, no error or timeout;
- streamed chat (the same bot, Server-Sent Events to the last event) >= 8%;
- RAG chat (the demo bot: hybrid retrieval with the vector side on, distinct questions in
  English and Korean) >= 5%;
- recorded chat on ``--workers 2`` >= 1.7x one worker.

Prints every share and PASS/FAIL, with the load average at start and end (the machine is
shared: compare the shares, not the absolute figures). Exits 1 on FAIL (``--no-fail``: report).

    .venv/bin/python bench/http.py                                  # everything, ~8 minutes
    .venv/bin/python bench/http.py --databases sqlite --rounds 1 --duration 3 --no-fail
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import _live_servers as live
from _floor_app import HTTP as FLOOR_HTTP
from _floor_app import LOOP as FLOOR_LOOP
from _wrk import Requests, WrkResult, ensure_wrk, run_wrk
from snapagent.cli.serve import UVICORN_HTTP, UVICORN_LOOP
from snapagent.testing.postgres import PostgresServer

SHARE_TARGETS = {"health": 0.50, "chat": 0.10, "stream": 0.08, "rag": 0.05}
P99_LIMIT_MS = 150.0
SCALING_TARGET = 1.7
LABELS = {
    "health": "GET /health",
    "chat": "chat, recorded",
    "stream": "chat, streamed",
    "rag": "chat, RAG (demo KB)",
}
# Distinct questions on the demo documents: each request adds its number, so no two are alike.
RAG_QUESTIONS = (
    "What does the statistics endpoint report? (question %d)",
    "1년 이상 근무하면 연차가 며칠 주어지나요? (질문 %d)",
    "How do I receive the answer while it is being written? (question %d)",
    "Which document formats can a knowledge base hold? (question %d)",
    "휴가는 언제까지 신청해야 하나요? (질문 %d)",
    "How are published workflow versions numbered? (question %d)",
    "재택 근무는 주 몇 회까지 가능한가요? (질문 %d)",
    "What happens to a resource that belongs to another account? (question %d)",
)

Results = dict[tuple[str, str, int, str], list[WrkResult]]
"""(database, "floor" or "ours", workers, endpoint) -> one result per round."""


@dataclass(slots=True, eq=False)  # hashed by identity
class Site:
    """One server under test and what to send it."""

    name: str  # "floor" or the database ("sqlite", "postgresql")
    workers: int
    base: str
    token: str = "floor-token"
    offline_bot: str = "floor-bot"
    rag_bot: str = ""

    def requests(self, kind: str) -> Requests:
        if kind == "health":
            return Requests.get("/health")
        if kind == "rag":
            bodies = [_body(self.rag_bot, q) for q in RAG_QUESTIONS]
        else:
            stream = ', "stream": true' if kind == "stream" else ""
            bodies = [_body(self.offline_bot, "What is SnapAgent? (question %d)", stream)]
        return Requests.post("/api/v1/chat", bodies, token=self.token)


def _body(bot_id: str, message: str, extra: str = "") -> str:
    head = json.dumps({"bot_id": bot_id, "message": message}, ensure_ascii=False)
    return head[:-1] + extra + "}"


@contextmanager
def _process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        live.Server(process, "", log).stop(timeout_s=60)


def _wait_health(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    live.wait_ready(live.Server(process, base, log), timeout_s=180)


def start_floor(stack: ExitStack, workdir: Path, workers: int) -> Site:
    port = live.free_port()
    script = Path(__file__).with_name("_floor_app.py")
    command = [sys.executable, str(script), str(port), str(workers)]
    log = workdir / f"floor-w{workers}.log"
    # Nothing of the caller's PYTHONPATH: the floor runs on this interpreter as installed.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = stack.enter_context(_process(command, env, log))
    base = f"http://127.0.0.1:{port}"
    _wait_health(base, process, log)
    return Site("floor", workers, base)


def seed_demo(env: dict[str, str], workdir: Path) -> tuple[str, str]:
    """`snapagent demo --no-serve`: the demo's API key and bot id (RAG on its knowledge base)."""
    done = subprocess.run(
        [sys.executable, "-m", "snapagent", "demo", "--no-serve"],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    key = re.search(r"SNAPAGENT_API_KEY=(\S+)", done.stdout)
    bot = re.search(r"Demo ready: bot (\w+)", done.stdout)
    if done.returncode != 0 or key is None or bot is None:
        raise RuntimeError(f"snapagent demo failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return key.group(1), bot.group(1)


def add_offline_bot(base: str, token: str) -> str:
    """A published start -> llm(offline) -> end bot of the demo user."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        bot = http.post("/api/v1/bots", json={"name": "bench offline"}).raise_for_status().json()
        versions = f"/api/v1/bots/{bot['id']}/workflow-versions"
        draft = http.get(versions).raise_for_status().json()["data"][0]
        body = {"graph": live.OFFLINE_GRAPH, "revision": draft["revision"]}
        http.put(f"{versions}/{draft['id']}", json=body).raise_for_status()
        http.post(f"{versions}/{draft['id']}/publish").raise_for_status()
        return str(bot["id"])


def start_snapagent(
    stack: ExitStack, workdir: Path, database: str, url: str | None, workers_list: list[int]
) -> list[Site]:
    """Seed one database, then start `snapagent serve` on it once per worker count."""
    data_dir = workdir / f"data-{database}"
    env = live.server_env(url, data_dir)
    if url is not None:
        live.migrate(url)
    token, rag_bot = seed_demo(env, workdir)
    sites: list[Site] = []
    for workers in workers_list:
        port = live.free_port()
        command = [*live.SERVE, "--port", str(port), "--workers", str(workers)]
        log = workdir / f"{database}-w{workers}.log"
        process = stack.enter_context(_process(command, env, log))
        base = f"http://127.0.0.1:{port}"
        _wait_health(base, process, log)
        sites.append(Site(database, workers, base, token, "", rag_bot))
    offline_bot = add_offline_bot(sites[0].base, token)
    for site in sites:
        site.offline_bot = offline_bot
    return sites


def slices(floor: dict[int, Site], sites: list[Site], rag: bool) -> list[tuple[Site, str]]:
    """One round on one database: floor and SnapAgent side by side, every endpoint."""
    one = next(s for s in sites if s.workers == 1)
    order: list[tuple[Site, str]] = [
        (floor[1], "health"),
        (one, "health"),
        (floor[1], "post"),
        (one, "chat"),
        (one, "stream"),
    ]
    if rag:
        order.append((one, "rag"))
    for site in sites:
        if site.workers != 1:
            order += [(site, "chat"), (floor[site.workers], "post")]
    return order


def _send(site: Site, kind: str) -> Requests:
    return site.requests("chat" if kind == "post" else kind)


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    assert (FLOOR_LOOP, FLOOR_HTTP) == (UVICORN_LOOP, UVICORN_HTTP), "floor and ours must match"
    wrk = ensure_wrk()
    workers_list = sorted({1, args.scaling_workers})
    results: Results = defaultdict(list)
    load_start = os.getloadavg()
    with ExitStack() as stack:
        floor = {w: start_floor(stack, workdir, w) for w in workers_list}
        by_database: dict[str, list[Site]] = {}
        for database in args.databases:
            url = None
            if database == "postgresql":
                url = args.database_url
                if url is None:
                    pg = stack.enter_context(PostgresServer())
                    url = pg.create_database("bench_http")
            by_database[database] = start_snapagent(stack, workdir, database, url, workers_list)
        plan = [
            (site, kind)
            for database, sites in by_database.items()
            for site, kind in slices(floor, sites, not args.skip_rag)
        ]
        options = {"connections": args.connections, "threads": args.threads, "wrk": wrk}
        for site, kind in dict.fromkeys(plan):  # warm every path once: caches, plans, pools
            run_wrk(site.base, _send(site, kind), duration_s=args.warmup, **options)
        for round_number in range(args.rounds):
            for database, sites in by_database.items():
                for site, kind in slices(floor, sites, not args.skip_rag):
                    result = run_wrk(
                        site.base, _send(site, kind), duration_s=args.duration, **options
                    )
                    side = "floor" if site.name == "floor" else "ours"
                    results[(database, side, site.workers, kind)].append(result)
            print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    return summarise(args, results, load_start, os.getloadavg())


def _figures(runs: list[WrkResult]) -> dict[str, Any]:
    return {
        "rps": round(statistics.median(r.rps for r in runs), 1),
        "p50_ms": round(statistics.median(r.p50_ms for r in runs), 2),
        "p99_ms": round(statistics.median(r.p99_ms for r in runs), 2),
        "p99_worst_ms": round(max(r.p99_ms for r in runs), 2),
        "errors": sum(r.errors for r in runs),
        "error_counts": {
            k: sum(r.error_counts.get(k, 0) for r in runs) for k in runs[0].error_counts
        },
        "slices": [round(r.rps, 1) for r in runs],
    }


def summarise(
    args: argparse.Namespace,
    results: Results,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for database in args.databases:
        floor = {
            kind: _figures(results[(database, "floor", 1, kind)]) for kind in ("health", "post")
        }
        for kind in ("health", "chat", "stream", "rag"):
            runs = results.get((database, "ours", 1, kind))
            if not runs:
                continue
            ours = _figures(runs)
            base = floor["health" if kind == "health" else "post"]
            share = ours["rps"] / base["rps"] if base["rps"] else 0.0
            passed = share >= SHARE_TARGETS[kind] and ours["errors"] == 0
            target = f">= {SHARE_TARGETS[kind]:.0%}"
            if kind == "chat":
                passed = passed and ours["p99_ms"] < P99_LIMIT_MS
                target += f", p99 < {P99_LIMIT_MS:.0f} ms"
            rows.append(
                {
                    "database": database,
                    "endpoint": kind,
                    "floor": base,
                    "snapagent": ours,
                    "share": round(share, 4),
                    "target": target + ", no errors",
                    "passed": passed,
                }
            )
        more = args.scaling_workers
        if more != 1:
            ours_one = _figures(results[(database, "ours", 1, "chat")])
            ours_more = _figures(results[(database, "ours", more, "chat")])
            floor_more = _figures(results[(database, "floor", more, "post")])
            scaling = ours_more["rps"] / ours_one["rps"] if ours_one["rps"] else 0.0
            floor_scaling = (
                floor_more["rps"] / floor["post"]["rps"] if floor["post"]["rps"] else 0.0
            )
            rows.append(
                {
                    "database": database,
                    "endpoint": f"chat, {more} workers / 1",
                    "floor": floor_more,
                    "snapagent": ours_more,
                    "share": round(ours_more["rps"] / floor_more["rps"], 4)
                    if floor_more["rps"]
                    else 0.0,
                    "scaling": round(scaling, 3),
                    "floor_scaling": round(floor_scaling, 3),
                    "target": f">= {SCALING_TARGET}x, no errors",
                    "passed": scaling >= SCALING_TARGET and ours_more["errors"] == 0,
                }
            )
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "connections": args.connections,
        "wrk_threads": args.threads,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "load_average": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in load_end],
        },
        "rows": rows,
        "passed": all(row["passed"] for row in rows),
    }


def report(result: dict[str, Any]) -> None:
    load = result["load_average"]
    print(
        f"HTTP benchmark: wrk, {result['connections']} connections, {result['wrk_threads']} "
        f"client thread, {result['rounds']} x {result['duration_s']} s slices per endpoint "
        f"(medians); {result['cpus']} CPUs, load average {load['start'][0]:.1f} at start, "
        f"{load['end'][0]:.1f} at end"
    )
    header = (
        f"{'database':<11}{'endpoint':<22}{'floor/s':>9}{'ours/s':>9}{'share':>8}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'errors':>7}  target"
    )
    print(header)
    for row in result["rows"]:
        ours, floor = row["snapagent"], row["floor"]
        label = LABELS.get(row["endpoint"], row["endpoint"])
        share = f"{row['share']:.1%}"
        verdict = "PASS" if row["passed"] else "FAIL"
        print(
            f"{row['database']:<11}{label:<22}{floor['rps']:>9.0f}{ours['rps']:>9.0f}{share:>8}"
            f"{ours['p50_ms']:>8.1f}{ours['p99_ms']:>8.1f}{ours['errors']:>7}  "
            f"{row['target']}: {verdict}"
        )
        if "scaling" in row:
            print(
                f"{'':<11}  {row['endpoint']}: x{row['scaling']:.2f} "
                f"(the floor's: x{row['floor_scaling']:.2f})"
            )
        if ours["errors"]:
            print(f"{'':<11}  errors: {ours['error_counts']}")
    print("PASS" if result["passed"] else "FAIL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: pgserver)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per slice")
    parser.add_argument("--rounds", type=int, default=3, help="slices per endpoint (median)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per endpoint")
    parser.add_argument("--scaling-workers", type=int, default=2, help="1: skip the scaling row")
    parser.add_argument("--skip-rag", action="store_true", help="no RAG chat")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even on FAIL")
    args = parser.parse_args(argv)
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not set(args.databases) <= {"sqlite", "postgresql"} or not args.databases:
        parser.error("--databases: sqlite and/or postgresql")
    if args.connections < 1 or args.duration <= 0 or args.rounds < 1 or args.scaling_workers < 1:
        parser.error("--connections, --rounds, --scaling-workers >= 1 and --duration > 0")
    with tempfile.TemporaryDirectory(prefix="snapagent-bench-http-") as tmp:
        result = measure(args, Path(tmp))
    print(json.dumps(result, indent=2, ensure_ascii=False)) if args.json else report(result)
    return 0 if result["passed"] or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
