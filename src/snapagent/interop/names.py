"""Names that are valid SnapAgent port names and Jinja2 variables, made from foreign ones.

identifier("user-name")                  # "user_name"
identifier("2nd")                        # "v_2nd"
unique_identifiers(["a-b", "a_b", "in"]) # {"a-b": "a_b", "a_b": "a_b_2", "in": "in_value"}

ports = PortNames(reserved={"history"})
ports.name_for(("1711", "text"), "text")   # "text"
ports.name_for(("1712", "text"), "text")   # "text_2" (another value, same wish)
ports.name_for(("1711", "text"), "text")   # "text" again (the same value)
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable

__all__ = ["JINJA_RESERVED", "PortNames", "identifier", "unique_identifiers"]

_INVALID = re.compile(r"[^A-Za-z0-9_]+")
MAX_LENGTH = 64

JINJA_RESERVED = frozenset(
    {
        "and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True",
        "False", "None", "loop", "self", "super", "range", "lipsum", "dict", "cycler",
        "joiner", "namespace", "caller", "varargs", "kwargs",
    }
)  # fmt: skip
"""Words a Jinja2 template cannot use as a plain variable name."""


def identifier(name: str, *, fallback: str = "value") -> str:
    """``name`` as an ASCII identifier usable as a port and a Jinja2 variable."""
    cleaned = _INVALID.sub("_", name.strip()).strip("_") if isinstance(name, str) else ""
    if not cleaned:
        cleaned = fallback
    if cleaned[0].isdigit():
        cleaned = f"v_{cleaned}"
    if cleaned in JINJA_RESERVED:
        cleaned = f"{cleaned}_value"
    return cleaned[:MAX_LENGTH]


def _numbered(base: str, number: int) -> str:
    suffix = f"_{number}"
    return base[: MAX_LENGTH - len(suffix)] + suffix


def unique_identifiers(
    names: Iterable[str], *, taken: Iterable[str] = (), fallback: str = "value"
) -> dict[str, str]:
    """Each name -> a distinct identifier (first come keeps the plain form)."""
    used = set(taken)
    out: dict[str, str] = {}
    for name in names:
        if name in out:
            continue
        base = identifier(name, fallback=fallback)
        candidate, number = base, 2
        while candidate in used:
            candidate, number = _numbered(base, number), number + 1
        used.add(candidate)
        out[name] = candidate
    return out


class PortNames:
    """Input port names of one node: one per distinct value, the wished name when it is free."""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._used: set[str] = set(reserved)
        self._by_key: dict[Hashable, str] = {}

    def name_for(self, key: Hashable, wish: str) -> str:
        if key in self._by_key:
            return self._by_key[key]
        base = identifier(wish)
        candidate, number = base, 2
        while candidate in self._used:
            candidate, number = _numbered(base, number), number + 1
        self._used.add(candidate)
        self._by_key[key] = candidate
        return candidate

    def bind(self, key: Hashable, name: str) -> None:
        """``name`` (taken or reserved) is the port of ``key``: the same value reuses it."""
        self._used.add(name)
        self._by_key[key] = name

    def claim(self, name: str) -> None:
        """Mark ``name`` as taken (a port the node has whatever the references are)."""
        self._used.add(name)
