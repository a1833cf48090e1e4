"""Does a value match a declared port type? (the ``code`` node checks its outputs with it)

>>> value_matches(PortType.INTEGER, 3), value_matches(PortType.INTEGER, True)
(True, False)
>>> describe_value([1, "a"])
'array'
"""

from __future__ import annotations

from typing import Any

from snapagent.workflow.types import PortType

__all__ = ["describe_value", "value_matches"]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _list_of(value: Any, check: Any) -> bool:
    return isinstance(value, list) and all(check(item) for item in value)


def value_matches(kind: PortType, value: Any) -> bool:
    """Whether ``value`` (JSON data) is a valid value of port type ``kind``."""
    if kind is PortType.ANY:
        return True
    if kind is PortType.STRING:
        return isinstance(value, str)
    if kind is PortType.NUMBER:
        return _number(value)
    if kind is PortType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is PortType.BOOLEAN:
        return isinstance(value, bool)
    if kind is PortType.OBJECT:
        return isinstance(value, dict)
    if kind is PortType.ARRAY_STRING:
        return _list_of(value, lambda item: isinstance(item, str))
    if kind is PortType.ARRAY_NUMBER:
        return _list_of(value, _number)
    # array[object], documents and messages are all lists of objects
    return _list_of(value, lambda item: isinstance(item, dict))


def describe_value(value: Any) -> str:
    """A short JSON-ish name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
