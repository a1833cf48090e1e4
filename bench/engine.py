"""Engine benchmark: our `WorkflowExecutorV2` against LangGraph and Haystack (issue 2, "Speed").

Runs the same three shapes - a 4-node pipeline (start -> retrieve stub -> LLM stub -> end), a
20-node chain and a 1 -> 8 -> 1 fan-out/fan-in - in all three frameworks, interleaved in one
process on one asyncio loop, and prints the median microseconds per run (wall clock and
thread CPU time) with the ratios against ours. For our engine alone it also prints the cost of
each extra chain node (a least-squares slope over chains of 4 to 20 nodes) and the median node
hand-off latency (one node finishing -> its successor starting), from the engine's own
`perf_counter_ns` stamps: `run()` results and `stream()` events.

Targets: LangGraph/ours >= 30x and Haystack/ours >= 10x on every shape, <= 5 us per extra
chain node, median hand-off < 50 us. Exits 1 when one is missed (`--no-fail`: report only).

    make bench                                           # sets up .bench-venv, runs every bench
    .bench-venv/bin/python bench/engine.py               # the full run (1-3 min, load dependent)
    .venv/bin/python bench/engine.py --quick --frameworks ours --no-fail   # the smoke test
    .venv/bin/python bench/engine.py --profile fanout-1-8-1   # where our microseconds go
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from _engine_harness import (
    Case,
    Plan,
    WrongOutputsError,
    measure,
    median_us,
    profile,
)
from _engine_ours import OURS, build_ours, handoff_latencies_ns
from _engine_peers import PeerMissingError, build_peer
from _engine_report import (
    CHAIN_LENGTHS,
    FRAMEWORKS,
    HANDOFF_SOURCES,
    SHAPES,
    Report,
)
from _engine_shapes import Shape

FULL = Plan(rounds=15, iterations=40, warmup=50)
QUICK = Plan(rounds=2, iterations=3, warmup=1)
HANDOFF_RUNS = {"full": 200, "quick": 3}


def build_cases(frameworks: Sequence[str]) -> list[Case]:
    """Every (framework, shape) case, plus our extra chain lengths; graphs built once here."""
    cases = [
        Case(fw, shape, build_ours(shape) if fw == OURS else build_peer(fw, shape))
        for shape in SHAPES
        for fw in frameworks
    ]
    known = {shape.name for shape in SHAPES}
    for length in CHAIN_LENGTHS:
        shape = Shape.chain(length)
        if shape.name not in known:
            cases.append(Case(OURS, shape, build_ours(shape)))
    return cases


async def run_benchmark(frameworks: Sequence[str], plan: Plan, handoff_runs: int) -> Report:
    samples = await measure(build_cases(frameworks), plan)
    medians = {
        clock: {key: median_us(values) for key, values in per_case.items()}
        for clock, per_case in samples.items()
    }
    handoffs_us: dict[str, dict[str, list[float]]] = {source: {} for source in HANDOFF_SOURCES}
    for shape in SHAPES:
        for source, gaps in (await handoff_latencies_ns(shape, handoff_runs)).items():
            handoffs_us[source][shape.name] = [ns / 1000 for ns in gaps]
    report = Report(plan, medians, handoffs_us)
    report.check_targets()
    return report


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few runs only (smoke test)")
    parser.add_argument("--no-fail", action="store_true", help="report, exit 0 on a missed target")
    parser.add_argument(
        "--frameworks",
        default=",".join(FRAMEWORKS),
        help=f"comma-separated subset of {','.join(FRAMEWORKS)} ({OURS} is always measured)",
    )
    parser.add_argument("--rounds", type=int, help="override the number of interleaved rounds")
    parser.add_argument("--iterations", type=int, help="override the runs per case per round")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument(
        "--profile",
        choices=[shape.name for shape in SHAPES],
        help="instead of the benchmark: cProfile our engine on this shape (own time per function)",
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.frameworks.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(FRAMEWORKS))
    if unknown:
        parser.error(f"unknown framework(s) {', '.join(unknown)}; choose from {FRAMEWORKS}")
    args.frameworks = [fw for fw in FRAMEWORKS if fw == OURS or fw in chosen]
    base = QUICK if args.quick else FULL
    try:
        args.plan = Plan(
            rounds=base.rounds if args.rounds is None else args.rounds,
            iterations=base.iterations if args.iterations is None else args.iterations,
            warmup=base.warmup,
        )
    except ValueError as error:
        parser.error(str(error))
    args.handoff_runs = HANDOFF_RUNS["quick" if args.quick else "full"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        shape = next(shape for shape in SHAPES if shape.name == args.profile)
        runs = 200 if args.quick else 5000
        print(f"cProfile of {runs} runs of {shape.name} in our engine:")
        print(asyncio.run(profile(build_ours(shape), runs)))
        return 0
    try:
        report = asyncio.run(run_benchmark(args.frameworks, args.plan, args.handoff_runs))
    except PeerMissingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except WrongOutputsError as error:  # a framework (ours included) computed something else
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(report.render())
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n")
    if report.failed and not args.no_fail:
        print("\nFAIL: at least one target was missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
