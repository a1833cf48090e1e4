"""Keeps `bench/engine.py` from rotting: a tiny run with our engine only, plus its harness.

No timing is asserted here (the targets are the benchmark's business); these tests check that
the benchmark runs, measures what it claims, and refuses wrong outputs or missing peers.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_engine_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / "engine.py"), *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture
def bench_module(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import a bench module by name the way the script sees it (bench/ on sys.path, last, so
    that sibling scripts named like stdlib modules shadow nothing)."""
    monkeypatch.setattr(sys, "path", [*sys.path, str(BENCH)])

    def load(name: str) -> ModuleType:
        return importlib.import_module(name)

    return load


def test_quick_run_with_our_engine_reports_every_figure(tmp_path: Path) -> None:
    figures = tmp_path / "engine.json"
    done = run_engine_bench("--quick", "--frameworks", "ours", "--no-fail", "--json", str(figures))

    assert done.returncode == 0, done.stderr
    out = done.stdout
    for shape in ("pipeline-4", "chain-20", "fanout-1-8-1"):
        assert shape in out
    assert "per extra chain node" in out
    assert "hand-off via run()" in out
    assert "hand-off via stream()" in out
    # Peers were not measured, so their ratio targets are skipped, never passed or failed.
    assert "SKIP  langgraph/ours on chain-20" in out
    assert "SKIP  haystack/ours on fanout-1-8-1" in out

    data = json.loads(figures.read_text())
    for clock in ("wall", "cpu"):
        medians = data["median_us"][clock]
        chains = {f"ours/chain-{n}" for n in (4, 8, 12, 16, 20)}
        assert set(medians) == {"ours/pipeline-4", "ours/fanout-1-8-1"} | chains
        assert all(us > 0 for us in medians.values())
        assert data["ratios"][clock]["langgraph/ours/pipeline-4"] is None
    assert set(data["us_per_extra_node"]) == {"wall", "cpu"}
    for source in ("run", "stream"):
        handoffs = data["handoff_median_us"][source]
        assert set(handoffs) == {"all", "pipeline-4", "chain-20", "fanout-1-8-1"}
        assert all(us > 0 for us in handoffs.values())


def test_profile_mode_names_the_engine_functions_that_cost_time() -> None:
    done = run_engine_bench("--profile", "chain-20", "--quick")

    assert done.returncode == 0, done.stderr
    assert "cProfile of 200 runs of chain-20" in done.stdout
    assert "runner.py" in done.stdout  # the executor's own frames are in the table
    assert "tottime" in done.stdout


def test_a_missing_peer_is_a_clear_error_not_a_traceback() -> None:
    if importlib.util.find_spec("langgraph") is not None:
        pytest.skip("langgraph is installed in this interpreter")
    done = run_engine_bench("--quick", "--frameworks", "ours,langgraph")

    assert done.returncode == 2
    assert "langgraph is not installed" in done.stderr
    assert "make bench-venv" in done.stderr
    assert "Traceback" not in done.stderr


def test_an_unknown_framework_is_rejected() -> None:
    done = run_engine_bench("--frameworks", "ours,airflow")

    assert done.returncode == 2
    assert "unknown framework(s) airflow" in done.stderr


def test_zero_rounds_is_rejected_not_replaced_by_the_default() -> None:
    done = run_engine_bench("--rounds", "0")

    assert done.returncode == 2
    assert "rounds must be at least 1, got 0" in done.stderr


@pytest.mark.parametrize(
    ("kind", "size", "nodes", "outputs"),
    [("pipeline", 4, 4, 1), ("chain", 20, 20, 1), ("chain", 4, 4, 1), ("fanout", 8, 10, 8)],
)
def test_our_graphs_have_the_shape_they_claim(
    bench_module: Any, kind: str, size: int, nodes: int, outputs: int
) -> None:
    shapes = bench_module("_engine_shapes")
    ours = bench_module("_engine_ours")
    shape = shapes.Shape(kind, size)

    graph = ours.graph_for(shape)

    assert len(graph.nodes) == shape.node_count == nodes
    assert len(shape.expected()) == outputs
    end = graph.node("end")
    assert end.config["outputs"] == list(shape.output_names)


async def test_each_run_of_ours_gives_the_expected_outputs_and_handoffs(bench_module: Any) -> None:
    shapes = bench_module("_engine_shapes")
    ours = bench_module("_engine_ours")
    shape = shapes.Shape.fanout()

    run = ours.build_ours(shape)
    assert await run() == shape.expected()
    assert await run() == shape.expected()  # the compiled plan is reusable

    gaps = await ours.handoff_latencies_ns(shape, runs=2)
    # start -> 8 branches and 8 branches -> end (released by the last one): 9 per run.
    assert len(gaps["run"]) == len(gaps["stream"]) == 2 * 9
    assert all(gap >= 0 for gap in gaps["run"] + gaps["stream"])


async def test_wrong_outputs_stop_the_benchmark_before_timing(bench_module: Any) -> None:
    harness = bench_module("_engine_harness")
    shapes = bench_module("_engine_shapes")
    calls = 0

    async def drops_a_branch() -> Mapping[str, Any]:
        nonlocal calls
        calls += 1
        return {"b0": "What is SnapAgent?+"}

    case = harness.Case("broken", shapes.Shape.fanout(), drops_a_branch)
    with pytest.raises(harness.WrongOutputsError, match="broken ran fanout-1-8-1 wrongly"):
        await harness.measure([case], harness.Plan(rounds=2, iterations=2, warmup=2))
    assert calls == 1


async def test_measure_interleaves_cases_and_keeps_one_sample_per_run(bench_module: Any) -> None:
    harness = bench_module("_engine_harness")
    shapes = bench_module("_engine_shapes")
    order: list[str] = []

    def runner(name: str, shape: Any) -> Any:
        async def run() -> Mapping[str, Any]:
            order.append(name)
            return shape.expected()

        return run

    shape = shapes.Shape.chain(5)
    cases = [harness.Case(name, shape, runner(name, shape)) for name in ("a", "b", "c")]
    samples = await harness.measure(cases, harness.Plan(rounds=3, iterations=2, warmup=0))

    for clock in ("wall", "cpu"):
        assert {key: len(values) for key, values in samples[clock].items()} == {
            ("a", "chain-5"): 6,
            ("b", "chain-5"): 6,
            ("c", "chain-5"): 6,
        }
        assert all(ns >= 0 for values in samples[clock].values() for ns in values)
    timed = order[3:]  # after one output check per case
    batches = [timed[i] for i in range(0, len(timed), 2)]
    assert batches == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]


def test_slope_and_median(bench_module: Any) -> None:
    harness = bench_module("_engine_harness")

    assert harness.slope([(4, 10.0), (8, 18.0), (12, 26.0)]) == pytest.approx(2.0)
    assert harness.median_us([1000, 3000, 2000]) == 2.0
    with pytest.raises(ValueError, match="two or more distinct"):
        harness.slope([(4, 1.0), (4, 2.0)])
    with pytest.raises(ValueError, match="iterations must be at least 1"):
        harness.Plan(rounds=1, iterations=0, warmup=0)


def test_targets_pass_fail_and_skip(bench_module: Any) -> None:
    report = bench_module("_engine_report")

    assert report.Target("ratio", 31.0, 30.0, True, "x").status == "PASS"
    assert report.Target("ratio", 29.9, 30.0, True, "x").status == "FAIL"
    assert report.Target("us/node", 5.1, 5.0, False, " us").status == "FAIL"
    assert report.Target("us/node", 4.0, 5.0, False, " us").status == "PASS"
    assert report.Target("ratio", None, 30.0, True, "x").status == "SKIP"
    assert report.Target("hand-off", 50.0, 50.0, False, " us", strict=True).status == "FAIL"
    assert report.Target("hand-off", 49.9, 50.0, False, " us", strict=True).status == "PASS"


def test_a_peer_that_fails_inside_its_import_is_not_reported_missing(bench_module: Any) -> None:
    peers = bench_module("_engine_peers")
    absent = ModuleNotFoundError("No module named 'langgraph'", name="langgraph")
    shadowed = ModuleNotFoundError("'http' is not a package", name="http.client")

    assert "is not installed" in str(peers._missing("langgraph", "langgraph", absent))
    assert "could not be imported" in str(peers._missing("langgraph", "langgraph", shadowed))
