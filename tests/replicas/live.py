"""The live-server helpers of `bench/_live_servers.py` (shared with `bench/load.py`), importable
from the replica, fault and security tests as ``from replicas.live import live``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
# Appended, never prepended: bench/http.py must not shadow the standard library's `http`.
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))

import _live_servers as live  # noqa: E402

__all__ = ["BENCH", "live", "start_together"]


async def start_together(procs: list[asyncio.subprocess.Process], go: Path) -> None:
    """Wait until every worker process printed ``ready`` (imports done, waiting for ``go``),
    then create ``go`` so that they all start at the same moment."""
    async with asyncio.timeout(60):
        for proc in procs:
            assert proc.stdout is not None
            assert await proc.stdout.readline() == b"ready\n"
    await asyncio.to_thread(go.touch)
