"""The lookups benchmark still runs end to end on SQLite and prints a verdict (figures are not
judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_lookups_bench_quick_run_reports_both_variants_and_a_verdict() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH / "lookups.py"), "--requests", "100", "--no-fail"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "uncached us/req" in completed.stdout
    assert completed.stdout.count("sqlite ") == 1
    assert completed.stdout.strip().splitlines()[-1] in ("PASS", "FAIL")
