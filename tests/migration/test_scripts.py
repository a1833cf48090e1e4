"""scripts/test_migration.py: its checks pass on a generated database and its exit code means it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "test_migration.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_migration_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_scenario_passes_and_pytest_failure_makes_the_exit_code_non_zero(
    capsys: pytest.CaptureFixture[str],
) -> None:
    script = load_script()
    calls: list[list[str]] = []

    def fake_pytest(args: list[str]) -> int:
        calls.append(args)
        return 3

    assert script.main(["--bots", "40", "--no-pytest"]) == 0
    out = capsys.readouterr().out
    assert "FAIL " not in out
    assert "PASS: scenario checks (0 failed)" in out
    assert script.main(["--bots", "40", "--pytest-args=-x -q"], pytest_runner=fake_pytest) == 1
    assert calls == [["-x", "-q"]]


def test_too_few_bots_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        load_script().main(["--bots", "5"])
    assert info.value.code == 2
