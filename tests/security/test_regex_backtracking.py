"""No regular expression in ``src/`` backtracks super-linearly, on any input.

1. Every pattern in the source is listed in `regex_registry.REGISTRY` (found by reading the
   source: ``re.<function>(pattern)``, ``pattern=``/``regex=`` keywords, ``compile_path``).
2. Each one is timed against adversarial inputs of two sizes, 16x apart, in a killable worker
   process (an exponential pattern never returns on its own): the time per character must not
   grow more than 6x faster than a linear baseline pattern's on the same inputs (quadratic
   grows ~16x, exponential never finishes). No wall-clock threshold: a busy machine slows
   the pattern and its baseline alike.
"""

from __future__ import annotations

import ast
import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from snapagent.isolation import IsolatedPool, ProcessLimits, WorkerTimeoutError
from snapagent.testing.regex_growth import Growth, growth

from .regex_registry import EXEMPT, GENERIC_PUMPS, REGISTRY, SUFFIXES, Regex

SRC = Path(__file__).resolve().parents[2] / "src"
RE_FUNCTIONS = {"compile", "match", "search", "sub", "subn", "split", "findall", "finditer",
                "fullmatch"}  # fmt: skip
MAX_GROWTH = 6.0
"""How much faster than the linear baseline the time per character may grow (16x apart)."""
PATTERN_DEADLINE_S = 120.0


@dataclass(frozen=True)
class Found:
    path: str
    source: str | bytes
    flags: int
    line: int


def _flags(node: ast.expr | None) -> int:
    """``re.I | re.M`` -> the int; 0 for anything that is not a plain combination of flags."""
    if node is None:
        return 0
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _flags(node.left) | _flags(node.right)
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "re"
    ):
        return int(getattr(re, node.attr))
    return 0


def _pattern_source(node: ast.expr) -> str | bytes:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        return node.value
    return f"<{ast.unparse(node)}>"


def regexes_in_source() -> list[Found]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            is_re = (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "re"
                and func.attr in RE_FUNCTIONS
            )
            if is_re and node.args:
                assert isinstance(func, ast.Attribute)
                flag_arg = {"compile": 1, "match": 2, "search": 2, "fullmatch": 2, "findall": 2,
                            "finditer": 2, "split": 3, "sub": 4, "subn": 4}[func.attr]  # fmt: skip
                flags_node = next((k.value for k in node.keywords if k.arg == "flags"), None)
                if flags_node is None and len(node.args) > flag_arg:
                    flags_node = node.args[flag_arg]
                source = _pattern_source(node.args[0])
                found.append(Found(relative, source, _flags(flags_node), node.lineno))
            if isinstance(func, ast.Name) and func.id == "compile_path" and node.args:
                found.append(Found(relative, f"<compile_path({ast.unparse(node.args[0])})>", 0,
                                   node.lineno))  # fmt: skip
            for keyword in node.keywords:
                if keyword.arg in ("pattern", "regex") and not is_re:
                    source = _pattern_source(keyword.value)
                    found.append(Found(relative, source, 0, node.lineno))
    return found


def test_every_regex_in_the_source_is_registered() -> None:
    found = regexes_in_source()
    assert len(found) > 50  # the scanner works
    registered = {(r.path, r.source) for r in REGISTRY}
    missing = [
        f"{f.path}:{f.line}: {f.source!r}"
        for f in found
        if (f.path, f.source) not in registered and (f.path, f.source) not in EXEMPT
    ]
    assert missing == [], (
        "new regular expressions: add each to tests/security/regex_registry.py (with the user "
        "input that reaches it and the pieces that could make it backtrack)\n" + "\n".join(missing)
    )
    present = {(f.path, f.source) for f in found}
    stale = [f"{r.path}: {r.source!r}" for r in REGISTRY if (r.path, r.source) not in present]
    assert stale == [], "registry entries whose pattern is gone from src:\n" + "\n".join(stale)


def _targets() -> list[tuple[Regex, int]]:
    flags = {(f.path, f.source): f.flags for f in regexes_in_source()}
    return [(entry, flags.get((entry.path, entry.source), 0)) for entry in REGISTRY]


async def _measure(pool: IsolatedPool, entry: Regex, flags: int) -> tuple[Regex, Growth | str]:
    source, real_flags = entry.compiled(flags)
    pumps = tuple(dict.fromkeys((*GENERIC_PUMPS, *entry.pumps)))
    try:
        result = await pool.call(
            growth, source, real_flags, pumps, suffixes=SUFFIXES, timeout_s=PATTERN_DEADLINE_S
        )
    except WorkerTimeoutError:
        return entry, f"did not finish within {PATTERN_DEADLINE_S:g} s (exponential?)"
    return entry, result


@pytest.mark.timeout(1800)
async def test_no_regex_backtracks_super_linearly() -> None:
    pool = IsolatedPool(
        name="regex-growth",
        size=2,
        limits=ProcessLimits(memory_mb=512, cpu_s=PATTERN_DEADLINE_S, max_output_bytes=1 << 16),
        result_types=(Growth,),
    )
    try:
        results = await asyncio.gather(*(_measure(pool, e, f) for e, f in _targets()))
    finally:
        await pool.close()
    bad = []
    for entry, result in results:
        if isinstance(result, str):
            bad.append(f"{entry.path}: {entry.source!r}: {result}")
        elif result.ratio > MAX_GROWTH * max(result.baseline_ratio, 1.0):
            bad.append(
                f"{entry.path}: {entry.source!r}: time per character grows {result.ratio:.1f}x "
                f"from 1k to 16k characters of {result.family} (linear baseline: "
                f"{result.baseline_ratio:.1f}x)"
            )
    assert bad == [], "super-linear regular expressions:\n" + "\n".join(bad)
