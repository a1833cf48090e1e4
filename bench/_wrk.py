"""`wrk` (Debian's package) as the load generator of `bench/http.py`.

wrk is a C client (one epoll loop per thread): on this 2-core machine one wrk thread drives
tens of thousands of requests/s, far above what any server here answers, so the client is never
the bottleneck - a Python client (httpx) was: it spent more CPU per request than the floor app.
Each measurement is one wrk run: ``connections`` keep-alive connections sending back to back for
``duration_s``; a Lua script gives every POST its own body (a counter in the message, so no two
questions are alike) and prints the figures as one JSON line at the end.

    spec = Requests.post("/api/v1/chat", ['{"bot_id": "b1", "message": "hi %d"}'], token="sa_...")
    result = run_wrk("http://127.0.0.1:8000", spec, connections=32, duration_s=5)
    result.rps, result.p99_ms, result.errors

If wrk is missing, :func:`ensure_wrk` installs it with ``apt-get`` (or says how to).
"""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Requests", "WrkResult", "ensure_wrk", "run_wrk"]

_MARKER = "WRKJSON "
# Each run's request numbers start past every earlier run's (a run sends far fewer than this
# many), so a later slice never repeats an earlier slice's questions: a repeated question
# would be answered by the query-vector cache, not embedded.
_RUN_NUMBERS = itertools.count(0, 10_000_000)

# wrk calls done() once at the end, with every thread's figures merged.
_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal: bytes as they are (UTF-8 included), no escapes needed (as an
    index, keep spaces around it: ``t[[=[x]=]]`` would not parse)."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


@dataclass(frozen=True, slots=True)
class Requests:
    """What every connection sends: a GET, or POSTs whose JSON bodies cycle through
    ``bodies`` (``%d`` in a body becomes the request's number; write ``%%`` for ``%``)."""

    method: str
    path: str
    bodies: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def get(cls, path: str) -> Requests:
        return cls("GET", path)

    @classmethod
    def post(cls, path: str, bodies: Sequence[str], *, token: str | None = None) -> Requests:
        headers = [("Content-Type", "application/json")]
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        return cls("POST", path, tuple(bodies), tuple(headers))

    def script(self) -> str:
        lines = [f"wrk.method = {_lua_string(self.method)}"]
        lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in self.headers]
        if self.bodies:
            bodies = ", ".join(_lua_string(body) for body in self.bodies)
            lines += [
                f"local bodies = {{{bodies}}}",
                f"local n = {next(_RUN_NUMBERS)}",
                "request = function()",
                "  n = n + 1",
                "  local body = string.format(bodies[(n % #bodies) + 1], n)",
                f"  return wrk.format(nil, {_lua_string(self.path)}, nil, body)",
                "end",
            ]
        return "\n".join(lines) + "\n" + _DONE


@dataclass(slots=True)
class WrkResult:
    """One wrk run's figures (latencies of completed responses; ``errors`` counts socket
    errors, timeouts and non-2xx/3xx answers)."""

    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    error_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Successful responses per second (an error answer is not throughput)."""
        ok = self.requests - self.error_counts.get("status", 0)
        return ok / self.duration_s if self.duration_s else 0.0

    @property
    def errors(self) -> int:
        return sum(self.error_counts.values())


def ensure_wrk() -> str:
    """The path of ``wrk``; installs Debian's package when it is missing (as root)."""
    found = shutil.which("wrk")
    if found:
        return found
    try:
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "wrk"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SystemExit(f"wrk is needed: install it (apt-get install wrk): {exc}") from exc
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: install it (apt-get install wrk)")
    return found


def run_wrk(
    base: str,
    requests: Requests,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
    timeout_s: float = 2.0,
    wrk: str = "wrk",
) -> WrkResult:
    """Run wrk against ``base`` and return its figures."""
    with tempfile.TemporaryDirectory(prefix="snapagent-wrk-") as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(requests.script(), encoding="utf-8")
        command = [
            wrk,
            f"-t{threads}",
            f"-c{max(connections, threads)}",
            f"-d{duration_s:g}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            str(script),
            base + requests.path,
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARKER)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-500:]}{done.stderr}")
    raw = json.loads(line[len(_MARKER) :])
    return WrkResult(
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        error_counts={k: raw[k] for k in ("connect", "read", "write", "status", "timeout")},
    )
