"""How a regular expression's running time grows with its input: linear, or worse?

For each adversarial input family (``pump * n + suffix``) the pattern scans one long input of
``SCALE`` times the characters of a short one, and the same short input ``SCALE`` times, so
both timings cover the same number of characters: for a linear pattern their ratio stays
near 1, for a quadratic one it is near ``SCALE``. The same is measured for a known-linear
baseline pattern on the same inputs, interleaved, and each pattern's ratio is reported next to
the baseline's. Wall-clock thresholds never enter: a loaded machine slows both alike.

    worst = growth(r"(a+)+$", 0, ["a"], suffixes=["!"])   # huge (exponential)
    worst = growth(r"[a-z]+", 0, ["a"], suffixes=["!"])   # ~1

Run it in a killable worker (`snapagent.isolation.IsolatedPool`): an exponential pattern
never returns on its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SCALE", "Growth", "growth"]

SCALE = 16
"""The long input has this many times the characters of the short one."""
SHORT_CHARS = 1_000
REPEATS = 5
SLOW_SHORT_S = 0.25
"""A short input (1,000 characters) taking this long is already a failure: stop there."""
_BASELINE = r"[^\x00]+"


@dataclass(frozen=True, slots=True)
class Growth:
    """The worst input family of one pattern: its time ratio and the baseline's on it."""

    ratio: float
    baseline_ratio: float
    family: str
    """``repr`` of the family's pump and suffix."""


Compiled = re.Pattern[str] | re.Pattern[bytes]


def _once(pattern: Compiled, text: str | bytes, times: int) -> float:
    began = time.perf_counter()
    for _ in range(times):
        pattern.findall(text)  # type: ignore[arg-type]
    return time.perf_counter() - began


def _ratio(pattern: Compiled, short: str | bytes, long: str | bytes) -> float:
    """Time of the long input over ``SCALE`` times the short one: the best of `REPEATS`
    interleaved rounds each (a pause of the machine hits one round, not the minimum)."""
    best_long = best_short = float("inf")
    for _ in range(REPEATS):
        best_long = min(best_long, _once(pattern, long, 1))
        best_short = min(best_short, _once(pattern, short, SCALE))
    return best_long / max(best_short, 1e-9)


def growth(
    source: str | bytes, flags: int, pumps: Sequence[str], *, suffixes: Sequence[str]
) -> Growth:
    """The worst growth ratio of ``source`` over every ``pump`` x ``suffix`` family."""
    pattern = re.compile(source, flags)
    binary = isinstance(source, bytes)
    baseline = re.compile(_BASELINE.encode() if binary else _BASELINE)
    worst = Growth(0.0, 0.0, "")
    for pump in pumps:
        for suffix in suffixes:
            count = max(1, SHORT_CHARS // len(pump))
            short: str | bytes = pump * count + suffix
            long: str | bytes = pump * (count * SCALE) + suffix
            if binary:
                short, long = short.encode(), long.encode()  # type: ignore[union-attr]
            if _once(pattern, short, 1) > SLOW_SHORT_S:
                return Growth(float("inf"), 1.0, repr((pump, suffix)))
            ratio = _ratio(pattern, short, long)
            base = _ratio(baseline, short, long)
            if ratio / max(base, 1.0) > worst.ratio / max(worst.baseline_ratio, 1.0):
                worst = Growth(ratio, base, repr((pump, suffix)))
    return worst
