"""How long a formatted string can get, known before it is formatted.

A format's width and precision are amplifiers the template chooses: ``'%999999999s' % 'x'``
and ``'{:>999999999}'.format('x')`` build a gigabyte from three characters, and only once it is
built could its length be checked. These functions read the format - never formatting - and
give the characters its widths and precisions can add, so the bounded sandbox refuses before:

    percent_padding("%-20s|%.5f|%*d", ("a", 1.0, 10, 7))   # 20 + 5 + 10 = 35
    brace_padding("{:>{w}}|{0:.3}", ("x",), {"w": 40})      # 40 + 3 = 43

Both read the format once, by hand (no regular expression, nothing that backtracks), and stop
counting at ``OVERSIZED``: a width of more digits than any limit allows is infinite in effect.
What values print as is not counted here - those values already exist within the limits, and
the formatted result is checked again once it is built.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["OVERSIZED", "brace_padding", "percent_padding"]

OVERSIZED = 10**12
"""Stands for a width or precision written with more digits than any limit can reach."""
_MAX_DIGITS = 12
_DIGITS = "0123456789"


def _number(text: str, start: int) -> tuple[int, int]:
    """The decimal number at ``text[start:]`` (0 if none) and the index after it."""
    end = start
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    digits = text[start:end]
    if not digits:
        return 0, end
    return (OVERSIZED if len(digits) > _MAX_DIGITS else int(digits)), end


def _star(values: Sequence[Any], position: int) -> int:
    """The width a ``*`` takes from the arguments (what is not an int fails in Python anyway)."""
    if position < len(values):
        value = values[position]
        if isinstance(value, int) and not isinstance(value, bool):
            return min(abs(value), OVERSIZED)
    return 0


def percent_padding(fmt: str, args: Any) -> int:
    """Characters the widths and precisions of a ``%`` format (``fmt % args``) may add."""
    values: Sequence[Any] = args if isinstance(args, tuple) else (args,)
    total, position, index = 0, 0, 0
    while True:
        index = fmt.find("%", index)
        if index < 0 or index + 1 >= len(fmt):
            return total
        index += 1
        if fmt[index] == "%":
            index += 1
            continue
        if fmt[index] == "(":  # %(key)s reads a mapping; Python counts nested parentheses
            depth = 0
            while index < len(fmt):
                depth += {"(": 1, ")": -1}.get(fmt[index], 0)
                index += 1
                if depth == 0:
                    break
        while index < len(fmt) and fmt[index] in "-+ #0":
            index += 1
        for part in ("width", "precision"):
            if part == "precision":
                if index >= len(fmt) or fmt[index] != ".":
                    break
                index += 1
            if index < len(fmt) and fmt[index] == "*":
                total += _star(values, position)
                position += 1
                index += 1
            else:
                number, index = _number(fmt, index)
                total += number
        position += 1  # the converted value
        if total >= OVERSIZED:
            return total


def _spec_padding(spec: str) -> int:
    """Width plus precision of one format spec: ``[[fill]align][sign][z][#][0][width]
    [grouping][.precision][type]``."""
    index = 0
    if len(spec) >= 2 and spec[1] in "<>=^":
        index = 2
    elif spec[:1] in "<>=^":
        index = 1
    while index < len(spec) and spec[index] in "+- z#":
        index += 1
    width, index = _number(spec, index)
    while index < len(spec) and spec[index] in ",_":
        index += 1
    precision = 0
    if index < len(spec) and spec[index] == ".":
        precision, index = _number(spec, index + 1)
    return width + precision


def _field_value(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], auto: int) -> Any:
    """The argument a nested replacement field (``{}``, ``{1}``, ``{w}``) names; None for a
    field that reads an attribute or an item (its width is checked on the result)."""
    if not name:
        return args[auto] if auto < len(args) else None
    if name.isdecimal() and len(name) <= _MAX_DIGITS:
        return args[int(name)] if int(name) < len(args) else None
    return kwargs.get(name)


def brace_padding(fmt: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> int:
    """Characters the widths and precisions of ``fmt.format(*args, **kwargs)`` may add; a
    spec's own replacement fields (``{:>{w}}``) are filled in from the arguments first."""
    parser = string.Formatter()
    total, auto = 0, 0
    try:
        for _literal, field, spec, _conversion in parser.parse(fmt):
            if field is None:
                continue
            if field == "":
                auto += 1
            if spec and "{" in spec:
                resolved = []
                for literal, inner, _spec, _conv in parser.parse(spec):
                    resolved.append(literal)
                    if inner is not None:
                        value = _field_value(inner, args, kwargs, auto)
                        auto += inner == ""
                        if isinstance(value, int) and not isinstance(value, bool):
                            value = str(min(abs(value), OVERSIZED))
                        resolved.append(value if isinstance(value, str) else "")
                spec = "".join(resolved)
            total += _spec_padding(spec or "")
            if total >= OVERSIZED:
                return total
    except ValueError:  # a malformed format: str.format raises the same error itself
        return total
    return total
