"""Values checked against port types: the one rule for declared inputs, extracted parameters
and conversation variables, and the JSON Schema a model is given for each type.

    coerce_value(PortType.INTEGER, "42")          # 42 (text from a CLI or a model is parsed)
    coerce_value(PortType.ARRAY_STRING, ["a", 1])  # ValueError: item 1 must be string
    json_schema_of(PortType.ARRAY_NUMBER)          # {"type": "array", "items": {"type": "number"}}
    value_matches(PortType.INTEGER, "42")          # False (strict: the code node's outputs)
"""

from __future__ import annotations

from typing import Any

from snapagent.workflow.types import PortType

__all__ = ["coerce_value", "describe_value", "json_schema_of", "value_matches"]

_TRUE = ("true", "1", "yes")
_BOOL_TEXT = (*_TRUE, "false", "0", "no")
_ITEM_TYPES = {
    PortType.ARRAY_STRING: PortType.STRING,
    PortType.ARRAY_NUMBER: PortType.NUMBER,
    PortType.ARRAY_OBJECT: PortType.OBJECT,
}
_SCHEMA_TYPES = {
    PortType.STRING: "string",
    PortType.NUMBER: "number",
    PortType.INTEGER: "integer",
    PortType.BOOLEAN: "boolean",
    PortType.OBJECT: "object",
}


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise ValueError from None  # float()'s own message is not ours to show
    raise ValueError


def coerce_value(kind: PortType, value: Any) -> Any:
    """``value`` as a value of ``kind``; text is parsed for numbers and booleans. Raises
    `ValueError` whose message says what was expected."""
    try:
        if kind is PortType.ANY:
            return value
        if kind is PortType.STRING:
            if isinstance(value, str):
                return value
            raise ValueError
        if kind is PortType.INTEGER:
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            number = _number(value)
            if float(number).is_integer():
                return int(number)
            raise ValueError
        if kind is PortType.NUMBER:
            return _number(value)
        if kind is PortType.BOOLEAN:
            if isinstance(value, str) and value.strip().lower() in _BOOL_TEXT:
                return value.strip().lower() in _TRUE
            if isinstance(value, bool):
                return value
            raise ValueError
        if kind is PortType.OBJECT:
            if isinstance(value, dict):
                return value
            raise ValueError
        if not isinstance(value, list):
            raise ValueError
        item_kind = _ITEM_TYPES.get(kind)
        if item_kind is None:  # documents, messages: lists whose items are checked by their users
            return value
        items = []
        for position, item in enumerate(value):
            try:
                items.append(coerce_value(item_kind, item))
            except ValueError:
                raise ValueError(
                    f"item {position} must be {item_kind.value}, got {item!r:.40}"
                ) from None
        return items
    except ValueError as exc:
        if str(exc):
            raise
        raise ValueError(f"must be {kind.value}, got {value!r:.60}") from None
    except (TypeError, OverflowError):
        raise ValueError(f"must be {kind.value}, got {value!r:.60}") from None


def json_schema_of(kind: PortType, description: str = "") -> dict[str, Any]:
    """The JSON Schema a model is asked to fill for a value of ``kind``."""
    schema: dict[str, Any]
    if kind in _SCHEMA_TYPES:
        schema = {"type": _SCHEMA_TYPES[kind]}
    elif kind in _ITEM_TYPES:
        schema = {"type": "array", "items": {"type": _SCHEMA_TYPES[_ITEM_TYPES[kind]]}}
    elif kind in (PortType.DOCUMENTS, PortType.MESSAGES):
        schema = {"type": "array", "items": {"type": "object"}}
    else:
        schema = {}
    if description:
        schema["description"] = description
    return schema


def _is_number(value: Any) -> bool:
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
        return _is_number(value)
    if kind is PortType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is PortType.BOOLEAN:
        return isinstance(value, bool)
    if kind is PortType.OBJECT:
        return isinstance(value, dict)
    if kind is PortType.ARRAY_STRING:
        return _list_of(value, lambda item: isinstance(item, str))
    if kind is PortType.ARRAY_NUMBER:
        return _list_of(value, _is_number)
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
