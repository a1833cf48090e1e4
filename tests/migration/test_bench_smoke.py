"""bench/migration.py keeps working: a tiny SQLite run prints its figures and a verdict."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "migration.py"


def test_small_sqlite_run_prints_figures_and_a_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # bench/ as the script sees it (its `_bootstrap` import): on sys.path, last, never first.
    monkeypatch.setattr(sys, "path", [*sys.path, str(BENCH.parent)])
    spec = importlib.util.spec_from_file_location("bench_migration", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    out_file = tmp_path / "figures.json"
    code = bench.main(["--bots", "60", "--skip-postgres", "--json", str(out_file)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: SQLite real run" in out
    (row,) = json.loads(out_file.read_text())
    assert row["dialect"] == "sqlite"
    assert row["converted"] + row["failed"] == 60
    assert row["real_bots_per_s"] > 0
