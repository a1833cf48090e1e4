"""`bench/validation.py --quick` runs and reports every shape (the speed verdict is the bench's,
not a timed test's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_validation_bench_reports_every_shape() -> None:
    done = subprocess.run(
        [sys.executable, "bench/validation.py", "--quick", "--no-fail", "--repeats", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    rows = [line.split()[0] for line in done.stdout.splitlines()[1:5]]
    assert rows == ["chain", "selectors", "branches", "wide"], done.stdout
    assert "exponent" in done.stdout
