"""The provider benchmark still runs end to end (figures are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_providers_bench_quick_run_reports_every_path() -> None:
    completed = subprocess.run(
        [sys.executable, str(BENCH / "providers.py"), "--quick", "--no-fail"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    for path in ("sdk", "client", "node"):
        assert f"  {path} " in completed.stdout
    assert completed.stdout.count("PASS") + completed.stdout.count("FAIL") == 2
