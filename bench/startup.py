"""How long SnapAgent takes to start: ``snapagent --help``, and ``snapagent serve`` to /health.

Each round runs, in order: ``snapagent --help`` (to its exit), ``python -c "import
snapagent.cli"`` (the import alone), and ``snapagent serve`` with the embedded defaults (a fresh
SQLite data directory, no keys) from launch until ``GET /health`` first answers 200 - each as
wall time and as the CPU time the process used (user + system: far less sensitive to other jobs
on the machine than wall time). The script prints each run and the median of each, and which
heavy optional modules (provider SDKs, MCP, jsonschema) a process that imported the CLI and
built the app holds: PASS if none (they load at the first use of a model or tool of theirs),
FAIL otherwise.

    python bench/startup.py              # 3 rounds, ~30 s on a quiet machine
    python bench/startup.py --rounds 5
    # against an older tree, interleaved round by round (same load), with the ratios:
    git archive <commit> src | tar -x -C /tmp/before
    python bench/startup.py --baseline /tmp/before/src

Times depend on the machine's load: compare runs made under the same load.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import _live_servers as live
from snapagent.testing.postgres import free_port

SNAPAGENT = [sys.executable, "-m", "snapagent"]
# Optional-path modules a start must not pay for (their first use imports them).
HEAVY = ("anthropic", "openai", "boto3", "botocore", "mcp", "jsonschema")
_LOADED = (
    "import json, sys; import snapagent.cli; from snapagent.api.app import create_app; "
    "create_app(); print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
)


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of running ``argv`` to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _serve_to_health(env: dict[str, str], timeout_s: float = 120.0) -> tuple[float, float]:
    """Wall seconds from launching `snapagent serve` to its first /health 200, and the CPU
    seconds the server had used by then."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*SNAPAGENT, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - started < timeout_s:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                    return time.perf_counter() - started, _cpu_s(process.pid)
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"snapagent serve exited with {process.returncode}")
            time.sleep(0.02)
        raise RuntimeError(f"no /health within {timeout_s} s")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


_MEASURES = ("--help", "import snapagent.cli", "serve to /health")


def _round(env: dict[str, str], results: dict[str, list[float]]) -> str:
    runs = {
        "--help": lambda: _time([*SNAPAGENT, "--help"], env),
        "import snapagent.cli": lambda: _time([sys.executable, "-c", "import snapagent.cli"], env),
        "serve to /health": lambda: _serve_to_health(env),
    }
    for name, run in runs.items():
        wall, cpu = run()
        results[name].append(wall)
        results[f"{name} (CPU)"].append(cpu)
    return ", ".join(f"{name} {times[-1]:.2f} s" for name, times in results.items())


def _medians(results: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(times) for name, times in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline", type=Path, help="another tree's src/ directory, timed in the same rounds"
    )
    args = parser.parse_args()
    names = [f"{name}{kind}" for name in _MEASURES for kind in ("", " (CPU)")]
    results: dict[str, list[float]] = {name: [] for name in names}
    baseline: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="snapagent-startup-") as workdir:
        for round_no in range(args.rounds):
            env = live.server_env(None, Path(workdir) / f"data{round_no}")
            env.pop("SNAPAGENT_DEFAULT_MODEL")  # the embedded defaults, as `make run` has them
            if args.baseline is not None:
                old_env = {**env, "PYTHONPATH": str(args.baseline.resolve())}
                old_env["SNAPAGENT_DATA_DIR"] += "-baseline"
                print(f"round {round_no + 1} baseline: {_round(old_env, baseline)}", flush=True)
            print(f"round {round_no + 1}: {_round(env, results)}", flush=True)
        env = live.server_env(None, Path(workdir) / "loaded")
        loaded = subprocess.run(
            [sys.executable, "-c", _LOADED.format(HEAVY=HEAVY)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    load = os.getloadavg()[0]
    print(f"medians of {args.rounds} rounds (load average {load:.1f}):")
    before = _medians(baseline) if args.baseline is not None else {}
    for name, median in _medians(results).items():
        compared = (
            f"  (baseline {before[name]:.2f} s, {median / before[name]:.2f}x)" if before else ""
        )
        print(f"  {name:<28} {median:.2f} s{compared}")
    heavy = json.loads(loaded.strip().splitlines()[-1])
    verdict = "FAIL" if heavy else "PASS"
    print(
        f"{verdict}: optional modules loaded by the CLI + create_app(): "
        f"{', '.join(heavy) or 'none'}"
    )
    return 1 if heavy else 0


if __name__ == "__main__":
    raise SystemExit(main())
