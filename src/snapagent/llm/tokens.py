"""A consistent token estimate for when a provider reports none (and for the offline model).

Roughly what BPE tokenisers do: about four characters per token for Latin text, about one per
character for Hangul/CJK (which they split into byte pieces). Deterministic, so the same text
always counts the same.
"""

from __future__ import annotations

import math

__all__ = ["estimate_tokens"]


def _is_wide(char: str) -> bool:
    code = ord(char)
    return (
        0xAC00 <= code <= 0xD7A3  # Hangul syllables
        or 0x1100 <= code <= 0x11FF  # Hangul jamo
        or 0x3130 <= code <= 0x318F  # Hangul compatibility jamo
        or 0x3040 <= code <= 0x30FF  # kana
        or 0x4E00 <= code <= 0x9FFF  # CJK ideographs
    )


def estimate_tokens(text: str) -> int:
    """Estimated tokens in ``text``: 0 for empty text, else at least 1.

    >>> estimate_tokens("hello world"), estimate_tokens("안녕하세요")
    (3, 5)
    """
    if not text:
        return 0
    wide = sum(1 for char in text if _is_wide(char))
    narrow = len(text) - wide
    return max(1, wide + math.ceil(narrow / 4))
