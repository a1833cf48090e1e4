"""The agent benchmark still runs end to end: both paths make their tool calls against the
real servers and a verdict is printed (figures are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_agent_bench_quick_run_reports_both_paths_and_a_verdict() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH / "agent.py"), "--quick", "--no-fail", "--rounds", "2"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "one run with 2 tool calls" in completed.stdout
    for path in ("sdk", "agent"):
        assert f"  {path} " in completed.stdout
    assert completed.stdout.count("PASS") + completed.stdout.count("FAIL") == 1
