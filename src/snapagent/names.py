"""Names people see (bots, knowledge bases, documents, API keys): stored as they read.

A name is shown to its owner - and in logs, exports and the console - exactly as stored, so it
must not hide anything: bidirectional controls (U+202A-202E, U+2066-2069, U+200E/F, U+061C)
can make ``gnp.exe`` display as ``exe.png``; zero-width and other invisible format characters
make two different names look the same. :func:`clean_name` is the one function every schema,
service and CLI command that stores a name passes it through:

- Unicode NFC (a name typed on macOS, decomposed, equals the same name typed elsewhere);
- every format character (category ``Cf``: bidi controls, zero-width space, word joiner, BOM,
  soft hyphen, invisible tags...) is removed - except ZWJ and ZWNJ (U+200D, U+200C), which
  emoji sequences and Persian and Indic scripts need to spell words, and which reorder nothing;
- invisible Hangul fillers (U+115F, U+1160, U+3164, U+FFA0) are removed: alone they draw
  nothing (modern Hangul syllables never contain them);
- control characters (category ``Cc``: line breaks, tabs, escapes) become spaces, runs of
  whitespace become one space, and the ends are trimmed.

    >>> clean_name("  report\\u202egnp.exe ")
    'reportgnp.exe'
    >>> clean_name("연차\\u200b 규정\\n(2026)")
    '연차 규정 (2026)'
"""

from __future__ import annotations

import re
import unicodedata

from snapagent.errors import InputValidationError

__all__ = ["KEPT_FORMAT_CHARACTERS", "clean_name", "is_hidden_character", "readable_name"]

KEPT_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})
_INVISIBLE_FILLERS = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0"})
_WHITESPACE = re.compile(r"\s+")


def is_hidden_character(char: str) -> bool:
    """True for a character :func:`clean_name` removes (or, a control, turns into a space)."""
    if char in KEPT_FORMAT_CHARACTERS:
        return False
    return char in _INVISIBLE_FILLERS or unicodedata.category(char) in ("Cf", "Cc")


def clean_name(value: str) -> str:
    """``value`` as it reads: see the module docstring. May return ``""``."""
    normalised = unicodedata.normalize("NFC", value)
    kept = "".join(
        " " if unicodedata.category(c) == "Cc" else c
        for c in normalised
        if not is_hidden_character(c) or unicodedata.category(c) == "Cc"
    )
    return _WHITESPACE.sub(" ", kept).strip()


def readable_name(value: str, *, field: str = "name", max_length: int | None = None) -> str:
    """``clean_name(value)``, refused (``InputValidationError``, a ``ValueError``, so it also
    serves as a pydantic validator) when nothing visible is left or it is too long.

    >>> readable_name("\u202e\u200b ", field="title")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    snapagent.errors.InputValidationError: title must contain visible characters ...
    """
    cleaned = clean_name(value)
    if not cleaned:
        raise InputValidationError(
            f"{field} must contain visible characters (control characters and invisible "
            "formatting characters such as bidirectional overrides are removed)",
            field=field,
        )
    if max_length is not None and len(cleaned) > max_length:
        raise InputValidationError(f"{field} is longer than {max_length} characters", field=field)
    return cleaned
