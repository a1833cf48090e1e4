"""Nodes that steer the flow: if-else, iteration and loop (their bodies are converted by the
graph assembler and handed in).

If-else cases keep their edge handles: Dify's first case ``true`` and its else ``false``
become our ``true``/``false`` branches when there is one case, otherwise a branch per case
(its id when that is a valid name, else ``case_<n>``) and ``else``.
"""

from __future__ import annotations

import json
from typing import Any

from snapagent.interop.dify.building import Built, port_type
from snapagent.interop.dify.conditions import NEVER, convert_conditions
from snapagent.interop.dify.context import DifyContext, DifyNode
from snapagent.interop.dify.references import Selector
from snapagent.interop.names import PortNames

__all__ = ["convert_if_else", "convert_iteration", "convert_loop"]

_ON_ERROR = {
    "terminated": "fail",
    "continue-on-error": "continue",
    "remove-abnormal-output": "drop",
}
_NAME_OK = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"


def _cases(data: dict[str, Any]) -> list[dict[str, Any]]:
    cases = data.get("cases")
    if isinstance(cases, list) and cases:
        return [c for c in cases if isinstance(c, dict)]
    # DSL 0.1.0: one case spelled out on the node.
    return [
        {
            "case_id": "true",
            "logical_operator": data.get("logical_operator", "and"),
            "conditions": data.get("conditions") or [],
        }
    ]


def _case_name(case_id: str, index: int, used: set[str]) -> str:
    ok = (
        case_id
        and case_id[0] in _NAME_OK
        and all(c.isalnum() or c == "_" for c in case_id)
        and case_id.isascii()
        and len(case_id) <= 64
    )
    name = case_id if ok and case_id not in ("else", "fail") else f"case_{index + 1}"
    while name in used:
        name = f"{name}_{index + 1}"
    used.add(name)
    return name


def convert_if_else(node: DifyNode, ctx: DifyContext) -> Built:
    cases = _cases(node.data)
    ports = PortNames()
    inputs: dict[str, Selector] = {}
    single = len(cases) == 1 and str(cases[0].get("case_id", "true")) == "true"
    handles: dict[str, str | None] = {}
    used: set[str] = set()
    ours: list[dict[str, Any]] = []
    for index, case in enumerate(cases):
        conditions = convert_conditions(
            case.get("conditions"), ctx, ports, inputs, node_id=node.id, field=f"cases[{index}]"
        )
        if not conditions:
            ctx.note(
                "warning",
                f"case {index + 1} has no condition that carries over",
                "it never holds",
                node_id=node.id,
                field=f"cases[{index}].conditions",
            )
            conditions = [dict(NEVER)]
        logic = "or" if case.get("logical_operator") == "or" else "and"
        entry: dict[str, Any] = {"logic": logic, "conditions": conditions}
        case_id = str(case.get("case_id") or "")
        if not single:
            entry["name"] = _case_name(case_id, index, used)
            handles[case_id] = entry["name"]
        ours.append(entry)
    if single:
        handles.update({"true": "true", "false": "false"})
    else:
        handles["false"] = "else"
    return Built("if_else", {"cases": ours}, inputs, handles=handles)


def convert_iteration(node: DifyNode, ctx: DifyContext, body: dict[str, Any]) -> Built:
    data = node.data
    inputs: dict[str, Selector] = {}
    items = ctx.selector(data.get("iterator_selector"), node_id=node.id, field="iterator_selector")
    if items is not None:
        inputs["items"] = items
    output = ctx.selector(data.get("output_selector"), node_id=node.id, field="output_selector")
    if output is None:
        ctx.note(
            "action",
            "the iteration has no output variable",
            "its output reads the first body node's text: pick the output",
            node_id=node.id,
            field="output_selector",
        )
        first = body["nodes"][0]["id"] if body.get("nodes") else node.id
        output = [first, "text"]
    config: dict[str, Any] = {"graph": body, "outputs": {"output": output}}
    if data.get("is_parallel"):
        number = data.get("parallel_nums")
        config["parallelism"] = min(100, number) if isinstance(number, int) and number > 0 else 10
    mode = data.get("error_handle_mode")
    if isinstance(mode, str) and mode in _ON_ERROR:
        config["on_item_error"] = _ON_ERROR[mode]
    if data.get("flatten_output"):
        ctx.note(
            "info",
            "lists output by each item are not flattened",
            "the output is one value per item (a list of lists when items output lists)",
            node_id=node.id,
            field="flatten_output",
        )
    return Built("iteration", config, inputs)


def _typed(kind: str, value: Any) -> Any:
    if isinstance(value, str) and kind != "string":
        text = value.strip()
        if kind in ("number", "integer"):
            try:
                number = float(text)
            except ValueError:
                return value
            return int(number) if number.is_integer() else number
        if kind == "boolean":
            return text.lower() == "true"
        try:
            return json.loads(text) if text else None
        except ValueError:
            return value
    return value


def convert_loop(node: DifyNode, ctx: DifyContext, body: dict[str, Any]) -> Built:
    data = node.data
    names = ctx.loop_variables(node)
    inputs: dict[str, Selector] = {}
    variables: list[dict[str, Any]] = []
    by_label: dict[str, str] = {}
    for index, raw in enumerate(v for v in data.get("loop_variables") or [] if isinstance(v, dict)):
        label = str(raw.get("label", ""))
        name = names[label]
        by_label[label] = name
        kind = port_type(raw.get("var_type"))
        variable: dict[str, Any] = {"name": name, "type": kind}
        if raw.get("value_type") == "variable":
            selector = ctx.selector(
                raw.get("value"), node_id=node.id, field=f"loop_variables[{index}].value"
            )
            if selector is not None:
                inputs[name] = selector
        else:
            variable["default"] = _typed(kind, raw.get("value"))
        variables.append(variable)
    updates: dict[str, Selector] = dict(ctx.loop_updates.get(node.source_id, {}))
    body_ids = {str(n.get("id")) for n in body.get("nodes", [])}
    conditions, extra_variables = _break_conditions(node, ctx, by_label, updates, inputs, body_ids)
    variables += extra_variables
    config: dict[str, Any] = {
        "graph": body,
        "loop_variables": variables,
        "updates": updates,
        "break_conditions": conditions,
        "logic": "or" if data.get("logical_operator") == "or" else "and",
    }
    count = data.get("loop_count")
    if isinstance(count, int) and not isinstance(count, bool) and count > 0:
        config["max_iterations"] = min(10_000, count)
    return Built("loop", config, inputs)


def _break_conditions(
    node: DifyNode,
    ctx: DifyContext,
    by_label: dict[str, str],
    updates: dict[str, Selector],
    inputs: dict[str, Selector],
    body_ids: set[str],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Break conditions over the loop variables; a condition on a body value tests a variable
    that takes that value after each round."""
    ports = PortNames(reserved={"index", "rounds", *by_label.values()})
    read: dict[str, Selector] = {}
    conditions = convert_conditions(
        node.data.get("break_conditions"),
        ctx,
        ports,
        read,
        node_id=node.id,
        field="break_conditions",
    )
    extra: list[dict[str, Any]] = []
    renamed: dict[str, str] = {}
    for port, selector in read.items():
        if len(selector) == 2 and selector[0] == node.id and selector[1] in by_label.values():
            renamed[port] = str(selector[1])
        elif len(selector) == 2 and selector[0] == node.id and selector[1] == "index":
            renamed[port] = "index"
        else:
            extra.append({"name": port, "type": "any"})
            if selector[0] in body_ids:
                updates[port] = selector
            else:
                inputs[port] = selector
            ctx.note(
                "info",
                f"a break condition tests {'.'.join(map(str, selector))}",
                f"loop variable {port!r} takes that value after each round and is tested",
                node_id=node.id,
                field="break_conditions",
            )
    for condition in conditions:
        condition["input"] = renamed.get(condition["input"], condition["input"])
    return conditions, extra
