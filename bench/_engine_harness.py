"""The measuring harness of the engine benchmark: interleaved rounds, per-run samples, medians.

Fair practice, applied identically to every case: each case is checked for correct outputs and
warmed up before timing; then in every round each case runs a batch of iterations, the cases
taking turns in an order that rotates from round to round (so drift - a neighbour's test run,
CPU frequency, a cache - falls on all of them alike); the garbage collector is run before every
batch and paused during it; every run is timed on its own with `time.perf_counter_ns` (and
`time.thread_time_ns`), and the figure reported is the median of all samples.

    cases = [Case("ours", shape, run_ours), Case("langgraph", shape, run_lg)]
    samples = await measure(cases, Plan(rounds=15, iterations=40, warmup=50))
    median_us(samples["wall"][cases[0].key])
"""

from __future__ import annotations

import cProfile
import gc
import io
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from _engine_shapes import Shape

RunOnce = Callable[[], Awaitable[Mapping[str, Any]]]

# Each run is timed on both: what the caller waits, and the CPU time this thread spent. The
# second is immune to preemption by other processes (see `_engine_report`).
CLOCKS: dict[str, Callable[[], int]] = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}


class WrongOutputsError(AssertionError):
    """A framework's run of a shape returned other outputs than the shape expects."""


@dataclass(frozen=True, slots=True)
class Case:
    """One framework running one shape."""

    framework: str
    shape: Shape
    run: RunOnce

    @property
    def key(self) -> tuple[str, str]:
        return (self.framework, self.shape.name)


@dataclass(frozen=True, slots=True)
class Plan:
    """How much to run: `warmup` untimed runs per case, then `rounds` x `iterations` timed."""

    rounds: int
    iterations: int
    warmup: int

    def __post_init__(self) -> None:
        for name in ("rounds", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must not be negative, got {self.warmup}")


async def check_outputs(case: Case) -> None:
    """Run `case` once and fail loudly unless it produced exactly the shape's outputs."""
    outputs = dict(await case.run())
    expected = case.shape.expected()
    if outputs != expected:
        raise WrongOutputsError(
            f"{case.framework} ran {case.shape.name} wrongly: expected {expected!r}, "
            f"got {outputs!r}"
        )


def rotated(cases: Sequence[Case], round_index: int) -> list[Case]:
    """The cases in the order they take their turn in round `round_index`."""
    if not cases:
        return []
    shift = round_index % len(cases)
    return [*cases[shift:], *cases[:shift]]


Samples = dict[str, dict[tuple[str, str], list[int]]]  # clock -> case key -> ns per run


async def measure(cases: Sequence[Case], plan: Plan) -> Samples:
    """Time every case per `plan`; returns each case's per-run durations in nanoseconds, on
    each clock of `CLOCKS`."""
    for case in cases:
        await check_outputs(case)
        for _ in range(plan.warmup):
            await case.run()
    wall: dict[tuple[str, str], list[int]] = {case.key: [] for case in cases}
    cpu: dict[tuple[str, str], list[int]] = {case.key: [] for case in cases}
    wall_clock, cpu_clock = CLOCKS["wall"], CLOCKS["cpu"]
    for round_index in range(plan.rounds):
        for case in rotated(cases, round_index):
            run = case.run
            wall_batch, cpu_batch = wall[case.key], cpu[case.key]
            with gc_paused():
                for _ in range(plan.iterations):
                    # The slower CPU clock brackets the wall clock, so wall times stay clean.
                    cpu_started = cpu_clock()
                    started = wall_clock()
                    await run()
                    wall_batch.append(wall_clock() - started)
                    cpu_batch.append(cpu_clock() - cpu_started)
    return {"wall": wall, "cpu": cpu}


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collect garbage now, then keep the collector off for the block (timeit's practice)."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def median_us(samples_ns: Iterable[int]) -> float:
    """The median of nanosecond samples, in microseconds."""
    values = list(samples_ns)
    if not values:
        raise ValueError("no samples")
    return statistics.median(values) / 1000


def slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of y over x (e.g. microseconds per run over chain length)."""
    if len({x for x, _ in points}) < 2:
        raise ValueError("a slope needs points at two or more distinct x values")
    xs, ys = zip(*points, strict=True)
    return statistics.linear_regression(xs, ys).slope


async def profile(run: RunOnce, runs: int, top: int = 30) -> str:
    """cProfile `runs` runs of `run` (after a warm-up, gc paused as in `measure`): the `top`
    functions by own time, for finding where an engine's microseconds go."""
    for _ in range(min(runs, 200)):
        await run()
    profiler = cProfile.Profile()
    with gc_paused():
        profiler.enable()
        for _ in range(runs):
            await run()
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()
