"""The engine benchmark's figures, its targets (issue 2) and how they are printed.

Durations are medians in microseconds on two clocks: ``wall`` (`time.perf_counter_ns`, what a
caller waits) and ``cpu`` (`time.thread_time_ns`, the work done). On a quiet machine they agree;
when other processes compete for the cores, a long run (a peer's milliseconds) is preempted
more often than a short one (ours), which inflates wall-clock ratios in our favour. So a ratio
or per-node target passes only if it passes on both clocks: the less favourable one is checked.

    report = Report(plan, medians, handoffs_us)
    report.check_targets()
    print(report.render())
"""

from __future__ import annotations

import platform
import statistics
from dataclasses import dataclass, field
from typing import Any

from _engine_harness import CLOCKS, Plan, slope
from _engine_ours import OURS
from _engine_peers import PEERS
from _engine_shapes import Shape

FRAMEWORKS = (OURS, *PEERS)
SHAPES = (Shape.pipeline(), Shape.chain(20), Shape.fanout())
CHAIN_LENGTHS = (4, 8, 12, 16, 20)  # ours only: the per-extra-node regression

# The speed contract of issue 2.
MIN_RATIO = {"langgraph": 30.0, "haystack": 10.0}
MAX_US_PER_NODE = 5.0
MAX_HANDOFF_US = 50.0

HANDOFF_SOURCES = {
    "run": "run() result stamps (started_ns - predecessor finished_ns)",
    "stream": "stream() events (NodeRunStarted.ns - predecessor NodeRunSucceeded.ns)",
}

Medians = dict[str, dict[tuple[str, str], float]]  # clock -> (framework, shape name) -> us


@dataclass(slots=True)
class Target:
    """One checked target: a PASS/FAIL line, or SKIP when its peer was not measured."""

    label: str
    value: float | None
    limit: float
    higher_is_better: bool
    unit: str
    strict: bool = False  # "under 50 us" excludes the limit itself

    @property
    def status(self) -> str:
        if self.value is None:
            return "SKIP"
        if self.value == self.limit:
            return "FAIL" if self.strict else "PASS"
        return "PASS" if (self.value > self.limit) == self.higher_is_better else "FAIL"

    def line(self) -> str:
        shown = "not measured" if self.value is None else f"{self.value:.1f}{self.unit}"
        return f"  {self.status}  {self.label}: {shown}"


@dataclass(slots=True)
class Report:
    """Everything one benchmark run measured, in microseconds."""

    plan: Plan
    medians: Medians
    handoffs_us: dict[str, dict[str, list[float]]]  # HANDOFF_SOURCES key -> shape -> gaps
    targets: list[Target] = field(default_factory=list)

    def ratio(self, peer: str, shape: Shape, clock: str) -> float | None:
        peer_us = self.medians[clock].get((peer, shape.name))
        return None if peer_us is None else peer_us / self.medians[clock][(OURS, shape.name)]

    def worst_ratio(self, peer: str, shape: Shape) -> float | None:
        ratios = [self.ratio(peer, shape, clock) for clock in CLOCKS]
        return None if None in ratios else min(r for r in ratios if r is not None)

    def chain_medians(self, clock: str) -> dict[int, float]:
        return {n: self.medians[clock][(OURS, Shape.chain(n).name)] for n in CHAIN_LENGTHS}

    def us_per_node(self, clock: str) -> float:
        """The least-squares slope of our median run time over chain length."""
        return slope([(float(n), us) for n, us in self.chain_medians(clock).items()])

    def handoff_median_us(self, source: str, shape: str | None = None) -> float:
        """The median gap over every shape's hand-offs, or over one shape's."""
        per_shape = self.handoffs_us[source]
        if shape is not None:
            return statistics.median(per_shape[shape])
        return statistics.median(gap for gaps in per_shape.values() for gap in gaps)

    def check_targets(self) -> None:
        for shape in SHAPES:
            for peer in PEERS:
                self.targets.append(
                    Target(
                        f"{peer}/ours on {shape.name} >= {MIN_RATIO[peer]:.0f}x"
                        " (lower of wall/cpu)",
                        self.worst_ratio(peer, shape),
                        MIN_RATIO[peer],
                        True,
                        "x",
                    )
                )
        self.targets.append(
            Target(
                f"ours per extra chain node <= {MAX_US_PER_NODE:.0f} us (higher of wall/cpu)",
                max(self.us_per_node(clock) for clock in CLOCKS),
                MAX_US_PER_NODE,
                False,
                " us",
            )
        )
        for source in HANDOFF_SOURCES:
            self.targets.append(
                Target(
                    f"ours median node hand-off ({source}) < {MAX_HANDOFF_US:.0f} us",
                    self.handoff_median_us(source),
                    MAX_HANDOFF_US,
                    False,
                    " us",
                    strict=True,
                )
            )

    @property
    def failed(self) -> bool:
        return any(t.status == "FAIL" for t in self.targets)

    def render(self) -> str:
        plan = self.plan
        lines = [
            f"engine benchmark: median us per run ({plan.rounds} rounds x {plan.iterations} runs"
            f" per case, interleaved, {plan.warmup} warm-up runs; Python "
            f"{platform.python_version()}, {platform.machine()})",
        ]
        for clock, source in CLOCKS.items():
            lines += ["", f"{clock} clock ({source.__name__}):", self._header()]
            lines += [self._row(shape, clock) for shape in SHAPES]
        lines.append("")
        for clock in CLOCKS:
            chain = ", ".join(f"{n}: {us:.1f}" for n, us in self.chain_medians(clock).items())
            lines.append(
                f"ours per extra chain node ({clock}): {self.us_per_node(clock):.2f} us"
                f" (least-squares slope over chain lengths; median us {chain})"
            )
        for source, how in HANDOFF_SOURCES.items():
            gaps = sorted(gap for gaps in self.handoffs_us[source].values() for gap in gaps)
            p90 = gaps[int(0.9 * (len(gaps) - 1))]
            per_shape = ", ".join(
                f"{shape} {self.handoff_median_us(source, shape):.1f}"
                for shape in self.handoffs_us[source]
            )
            lines.append(
                f"ours node hand-off via {how}: median {self.handoff_median_us(source):.1f} us,"
                f" p90 {p90:.1f} us over {len(gaps)} hand-offs (medians: {per_shape})"
            )
        lines += ["", "targets:", *(t.line() for t in self.targets)]
        return "\n".join(lines)

    @staticmethod
    def _header() -> str:
        return (
            f"{'shape':<14}{'nodes':>6}"
            + "".join(f"{name:>11}" for name in FRAMEWORKS)
            + "".join(f"{_short(peer) + '/ours':>10}" for peer in PEERS)
        )

    def _row(self, shape: Shape, clock: str) -> str:
        medians = self.medians[clock]
        cells = "".join(
            f"{medians[(fw, shape.name)]:>11.1f}" if (fw, shape.name) in medians else f"{'-':>11}"
            for fw in FRAMEWORKS
        )
        ratios = "".join(
            f"{r:>9.1f}x" if (r := self.ratio(peer, shape, clock)) is not None else f"{'-':>10}"
            for peer in PEERS
        )
        return f"{shape.name:<14}{shape.node_count:>6}{cells}{ratios}"

    def to_json(self) -> dict[str, Any]:
        return {
            "python": platform.python_version(),
            "plan": {"rounds": self.plan.rounds, "iterations": self.plan.iterations},
            "median_us": {
                clock: {f"{fw}/{shape}": us for (fw, shape), us in medians.items()}
                for clock, medians in self.medians.items()
            },
            "ratios": {
                clock: {
                    f"{peer}/ours/{shape.name}": self.ratio(peer, shape, clock)
                    for peer in PEERS
                    for shape in SHAPES
                }
                for clock in CLOCKS
            },
            "us_per_extra_node": {clock: self.us_per_node(clock) for clock in CLOCKS},
            "handoff_median_us": {
                source: {
                    "all": self.handoff_median_us(source),
                    **{shape: self.handoff_median_us(source, shape) for shape in per_shape},
                }
                for source, per_shape in self.handoffs_us.items()
            },
            "targets": {t.label: [t.status, t.value] for t in self.targets},
        }


def _short(peer: str) -> str:
    return {"langgraph": "LG", "haystack": "HS"}.get(peer, peer)
