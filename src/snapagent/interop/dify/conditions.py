"""Dify conditions (if-else cases, loop break conditions) -> our ``if_else`` conditions.

A Dify condition compares the value a selector reads with a constant, by one of its operators
(``contains``, ``start with``, ``is``, ``=``, ``≥``, ``empty``, ``in``, ``all of``...). Ours
compares an input port of the node with a constant. Each distinct selector becomes one input
port; operators map one to one except where the report says otherwise.

    conditions, logic = convert_conditions(case["conditions"], case["logical_operator"], ...)
"""

from __future__ import annotations

from typing import Any

from snapagent.interop.dify.context import DifyContext
from snapagent.interop.dify.references import REFERENCE, Selector
from snapagent.interop.names import PortNames

__all__ = ["NEVER", "convert_condition", "convert_conditions"]

_SAME = {
    "contains": "contains",
    "not contains": "not_contains",
    "start with": "starts_with",
    "end with": "ends_with",
    "is": "equals",
    "is not": "not_equals",
    "empty": "is_empty",
    "not empty": "is_not_empty",
    "in": "in",
    "not in": "not_in",
    "=": "equals",
    "≠": "not_equals",
    ">": "greater_than",
    "<": "less_than",
    "≥": "greater_or_equal",
    "≤": "less_or_equal",
    "exists": "is_not_empty",
    "not exists": "is_empty",
}
_APPROXIMATE = {"null": "is_empty", "not null": "is_not_empty"}
_NUMERIC = frozenset({"=", "≠", ">", "<", "≥", "≤"})
# Spellings older exports used.
_ALIASES = {"==": "=", "!=": "≠", ">=": "≥", "<=": "≤", "not_contains": "not contains"}

NEVER: dict[str, Any] = {"input": "never_set", "operator": "is_not_empty"}
"""A condition that never holds (its input is never wired): stands in for an empty case."""


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def _boolean(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return value


def convert_condition(
    raw: Any,
    ctx: DifyContext,
    ports: PortNames,
    inputs: dict[str, Selector],
    *,
    node_id: str,
    field: str,
) -> list[dict[str, Any]]:
    """Our conditions for one Dify condition (``all of`` becomes one per value; a condition
    that cannot be expressed becomes none - reported)."""
    if not isinstance(raw, dict):
        return []
    operator = str(raw.get("comparison_operator") or "")
    operator = _ALIASES.get(operator, operator)
    selector = ctx.selector(raw.get("variable_selector"), node_id=node_id, field=field)
    if selector is None:
        return []
    port = ports.name_for(tuple(selector), str(raw.get("variable_selector", ["", "value"])[-1]))
    inputs[port] = selector
    value = raw.get("value")
    var_type = str(raw.get("varType") or "")
    if isinstance(value, str) and REFERENCE.search(value):
        ctx.note(
            "action",
            f"a condition compares with a variable ({value!r}); SnapAgent conditions compare "
            "with constants",
            "the reference text is compared literally: rewrite the condition (for example "
            "with a template node that computes the comparison)",
            node_id=node_id,
            field=field,
        )
    if raw.get("sub_variable_condition"):
        ctx.note(
            "action",
            "a condition on the attributes of files (type, name, size...) has no equivalent",
            "it tests whether there are any files at all",
            node_id=node_id,
            field=field,
        )
        wanted = "is_empty" if operator in ("not contains", "not in", "empty") else "is_not_empty"
        return [{"input": port, "operator": wanted}]
    if operator == "all of":
        values = value if isinstance(value, list) else [value]
        return [{"input": port, "operator": "contains", "value": v} for v in values]
    ours = _SAME.get(operator)
    if ours is None and operator in _APPROXIMATE:
        ours = _APPROXIMATE[operator]
        ctx.note(
            "info",
            f"operator {operator!r} is tested as {ours!r}",
            "an empty text or list counts as null too",
            node_id=node_id,
            field=field,
        )
    if ours is None:
        ctx.note(
            "action",
            f"comparison operator {operator!r} is unknown",
            "the condition tests whether the value is set; pick the right operator",
            node_id=node_id,
            field=field,
        )
        return [{"input": port, "operator": "is_not_empty"}]
    condition: dict[str, Any] = {"input": port, "operator": ours}
    if ours in ("is_empty", "is_not_empty"):
        return [condition]
    if operator in _NUMERIC or var_type == "number":
        value = _number(value)
    elif var_type == "boolean":
        value = _boolean(value)
    elif ours in ("in", "not_in") and isinstance(value, str):
        value = [value]
    condition["value"] = value
    return [condition]


def convert_conditions(
    raw_conditions: Any,
    ctx: DifyContext,
    ports: PortNames,
    inputs: dict[str, Selector],
    *,
    node_id: str,
    field: str,
) -> list[dict[str, Any]]:
    """Our conditions for a list of Dify conditions (see `convert_condition`)."""
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(raw_conditions if isinstance(raw_conditions, list) else []):
        out += convert_condition(
            raw, ctx, ports, inputs, node_id=node_id, field=f"{field}[{index}]"
        )
    return out
