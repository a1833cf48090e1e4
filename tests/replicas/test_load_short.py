"""The short version of `bench/load.py`: 2 `snapagent serve` processes on one PostgreSQL,
8 clients for 10 s of JSON chat, streamed chat and execution reads, then a database count.

No timing is asserted (the bench prints p50/p99); what must hold is zero 5xx and, for every
answered chat, its question, its answer right after it and its run record with node rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from replicas.live import BENCH  # noqa: F401  (puts bench/ on sys.path)

import load  # isort: skip

pytestmark = pytest.mark.postgres


def test_two_replicas_under_mixed_load_lose_nothing(postgres_url: str, tmp_path: Path) -> None:
    report = load.run_load(postgres_url, tmp_path, clients=8, duration_s=10)
    load.print_report(report, clients=8, servers=2)
    assert report.server_errors == 0, report.errors[:5]
    assert not report.errors, report.errors[:5]
    assert not report.missing, report.missing[:5]
    kinds = {kind for kind, values in report.latencies_ms.items() if values}
    assert kinds == {"chat", "stream", "executions"}
    assert len(report.chats) > 20
    assert report.passed
