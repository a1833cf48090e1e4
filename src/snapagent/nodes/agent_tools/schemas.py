"""Tool names and argument schemas that every provider accepts.

A tool name must be valid for Anthropic, OpenAI and Bedrock at once: a letter, then letters,
digits, ``_`` or ``-``, at most 64 in all. An argument schema is a well-formed JSON Schema
(draft 2020-12) of an ``object``, with local ``$ref`` s only (nothing is ever fetched), at
most `MAX_SCHEMA_CHARS` of JSON nested at most 64 levels. A model's arguments are checked
against it in a worker process, never here (`argument_check`).

    check_tool_name("get_weather")                     # ok
    check_parameters({"type": "object", "properties": {"city": {"type": "string"}}})
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = [
    "MAX_SCHEMA_CHARS",
    "TOOL_NAME",
    "check_parameters",
    "check_tool_name",
    "provider_safe_name",
]

TOOL_NAME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
MAX_SCHEMA_CHARS: Final = 64_000
"""Largest argument schema (as JSON) a tool may declare: it is sent with every model call."""
_MAX_DEPTH: Final = 64
_UNSAFE_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_-]")


def check_tool_name(name: str) -> str:
    """``name`` if every provider accepts it, else `ValueError` saying what is wrong."""
    if not TOOL_NAME.match(name):
        raise ValueError(
            f"tool name {name[:80]!r} is not valid for every provider: it must start with a "
            "letter and contain only letters, digits, '_' or '-', at most 64 characters"
        )
    return name


def provider_safe_name(name: str, prefix: str = "") -> str:
    """A name every provider accepts, made from a tool's own (an MCP server may name tools
    ``files.read``): unsafe characters become ``_``, a leading non-letter gets ``t_``, and the
    result is cut to 64 characters."""
    safe = _UNSAFE_NAME_CHARS.sub("_", f"{prefix}{name}")
    if not safe[:1].isascii() or not safe[:1].isalpha():
        safe = f"t_{safe}"
    return safe[:64]


def _nodes(value: Any, depth: int = 0) -> Iterator[tuple[Mapping[str, Any], int]]:
    if depth > _MAX_DEPTH:
        raise ValueError(f"the schema is nested more than {_MAX_DEPTH} levels deep")
    if isinstance(value, Mapping):
        yield value, depth
        for inner in value.values():
            yield from _nodes(inner, depth + 1)
    elif isinstance(value, list):
        for inner in value:
            yield from _nodes(inner, depth + 1)


def check_parameters(schema: Any) -> dict[str, Any]:
    """``schema`` if it is a usable argument schema, else `ValueError` naming the problem."""
    if not isinstance(schema, Mapping):
        raise ValueError("parameters must be a JSON Schema object")
    if schema.get("type") != "object":
        raise ValueError('parameters must describe an object ("type": "object")')
    try:
        size = len(json.dumps(schema))
    except (TypeError, ValueError, RecursionError):
        raise ValueError("parameters must be plain JSON") from None
    if size > MAX_SCHEMA_CHARS:
        raise ValueError(f"parameters are {size} characters of JSON, over {MAX_SCHEMA_CHARS}")
    for node, _depth in _nodes(schema):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            raise ValueError(f"only local $ref values (#/...) are allowed, not {ref[:80]!r}")
    from jsonschema import Draft202012Validator, SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ValueError(
            f"parameters are not a valid JSON Schema at {where}: {exc.message}"
        ) from None
    properties = schema.get("properties", {})
    for required in schema.get("required", []):
        if isinstance(properties, Mapping) and required not in properties:
            raise ValueError(f"required argument {required!r} is not among the properties")
    return dict(schema)
