"""`estimate_tokens` counts as its definition says: one token per Hangul/kana/CJK character,
one per four other characters (rounded up), at least one for non-empty text."""

from __future__ import annotations

import math
import random

import pytest

from snapagent.llm.tokens import estimate_tokens

# The wide ranges, inclusive, as documented in snapagent.llm.tokens.
_RANGES = [(0xAC00, 0xD7A3), (0x1100, 0x11FF), (0x3130, 0x318F), (0x3040, 0x30FF), (0x4E00, 0x9FFF)]


def _reference(text: str) -> int:
    if not text:
        return 0
    wide = sum(1 for c in text if any(lo <= ord(c) <= hi for lo, hi in _RANGES))
    return max(1, wide + math.ceil((len(text) - wide) / 4))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0), ("a", 1), ("hello world", 3), ("안녕하세요", 5), ("API를 호출", 3 + 1)],
)
def test_known_counts(text: str, expected: int) -> None:
    assert estimate_tokens(text) == expected


def test_range_edges_count_exactly_as_defined() -> None:
    edges = []
    for lo, hi in _RANGES:
        edges += [lo - 1, lo, hi, hi + 1]
    for code in edges:
        char = chr(code)
        assert estimate_tokens(char * 8) == _reference(char * 8), hex(code)


def test_random_mixed_text_matches_the_definition() -> None:
    rng = random.Random(13)
    alphabet = "abc XYZ.,\n\t0é€😀" + "".join(chr(lo) + chr(hi) for lo, hi in _RANGES)
    alphabet += "".join(chr(lo - 1) + chr(hi + 1) for lo, hi in _RANGES)
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200)))
        assert estimate_tokens(text) == _reference(text), text
