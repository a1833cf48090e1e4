"""Nodes that transform data: template-transform, code, variable-aggregator (and its legacy
name variable-assigner), document-extractor, list-operator, assigner.

Two have no node of their own here and become generated Python in a ``code`` node (run in the
sandbox like any code node; the report says so): the list operator, and the assigner's
operations our ``variable_assigner`` lacks (``*=``, ``/=``, ``remove-first``...). An assigner
inside a loop writes loop variables: those writes become the loop's ``updates``.
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from snapagent.interop.dify.building import Built, port_type, position_of
from snapagent.interop.dify.context import DifyContext, DifyNode
from snapagent.interop.dify.jinja import jinja_template
from snapagent.interop.dify.references import Selector
from snapagent.interop.names import PortNames
from snapagent.interop.shapes import mapping

__all__ = [
    "convert_aggregator",
    "convert_assigner",
    "convert_code",
    "convert_document_extractor",
    "convert_list_operator",
    "convert_template",
]

_CODE_TYPES = {
    "string": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "object": "object",
    "array[string]": "array[string]",
    "array[number]": "array[number]",
    "array[object]": "array[object]",
}
_EMPTY = {
    "string": "''",
    "number": "0",
    "integer": "0",
    "boolean": "False",
    "object": "{}",
    "array[string]": "[]",
    "array[number]": "[]",
    "array[object]": "[]",
}


def convert_template(node: DifyNode, ctx: DifyContext) -> Built:
    inputs: dict[str, Selector] = {}
    template = jinja_template(
        node.data.get("template", ""),
        node.data.get("variables"),
        ctx,
        PortNames(),
        inputs,
        node_id=node.id,
        field="template",
    )
    return Built("template", {"template": template}, inputs, outputs={"output": "text"})


def convert_code(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    inputs: dict[str, Selector] = {}
    declared: list[dict[str, Any]] = []
    ports = PortNames()
    for index, variable in enumerate(v for v in data.get("variables") or [] if isinstance(v, dict)):
        name = str(variable.get("variable", ""))
        port = ports.name_for(("code", name), name)
        if port != name:
            ctx.note(
                "action",
                f"code input {name!r} is not a valid port name",
                f"renamed to {port!r}: rename the argument of main() too",
                node_id=node.id,
                field=f"variables[{index}]",
            )
        declared.append({"name": port, "required": False, "default": None})
        selector = ctx.selector(
            variable.get("value_selector"), node_id=node.id, field=f"variables[{index}]"
        )
        if selector is not None:
            inputs[port] = selector
    outputs: dict[str, str] = {}
    renamed = ctx.code_outputs(node)
    raw_outputs = mapping(data.get("outputs"))
    for name, spec in raw_outputs.items():
        kind = spec.get("type") if isinstance(spec, dict) else spec
        ours = _CODE_TYPES.get(str(kind or ""), "any")
        if ours == "any" and kind not in (None, "", "any"):
            ctx.note(
                "info",
                f"output {name!r} has type {kind!r}, which has no equivalent",
                "declared as any",
                node_id=node.id,
                field=f"outputs.{name}",
            )
        if renamed[name] != name:
            ctx.note(
                "action",
                f"code output {name!r} is not a valid port name",
                f"declared as {renamed[name]!r}: return that key from main()",
                node_id=node.id,
                field=f"outputs.{name}",
            )
        outputs[renamed[name]] = ours
    language = str(data.get("code_language") or "python3")
    if language not in ("python3", "javascript"):
        ctx.note(
            "action",
            f"code language {language!r} is not supported (python3, javascript)",
            "kept as python3: rewrite the code",
            node_id=node.id,
            field="code_language",
        )
        language = "python3"
    code = data.get("code") if isinstance(data.get("code"), str) and data.get("code") else None
    missing = _foreign_imports(code or "") if language == "python3" else []
    if missing:
        ctx.note(
            "action",
            f"the code imports {', '.join(missing)}, which the sandbox does not have (it has "
            "the Python standard library only)",
            "kept as it is: the node fails at run time until the code does without them",
            node_id=node.id,
            field="code",
        )
    if data.get("dependencies"):
        ctx.note(
            "warning",
            "package dependencies are not installed: the sandbox has the standard library only",
            "imports of other packages fail at run time",
            node_id=node.id,
            field="dependencies",
        )
    config = {
        "language": language,
        "code": code or "def main():\n    return {}\n",
        "inputs": declared,
        "outputs": outputs,
    }
    return Built("code", config, inputs, outputs=dict(renamed))


def _foreign_imports(code: str) -> list[str]:
    """Top-level modules the code imports that are not in the standard library."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found: set[str] = set()
    for statement in ast.walk(tree):
        if isinstance(statement, ast.Import):
            found.update(alias.name.split(".")[0] for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom) and statement.module and not statement.level:
            found.add(statement.module.split(".")[0])
    return sorted(name for name in found if name not in sys.stdlib_module_names)


def _aggregate(
    node: DifyNode, ctx: DifyContext, selectors: Any, output_type: Any, field: str
) -> tuple[dict[str, Any], dict[str, Selector]]:
    ports = PortNames()
    inputs: dict[str, Selector] = {}
    names: list[str] = []
    for index, raw in enumerate(selectors if isinstance(selectors, list) else []):
        selector = ctx.selector(raw, node_id=node.id, field=f"{field}[{index}]")
        if selector is None:
            continue
        port = ports.name_for(tuple(selector), str(selector[1]))
        if port not in inputs:
            names.append(port)
        inputs[port] = selector
    if not names:
        ctx.note(
            "action",
            "the aggregator has no variables",
            "one empty input 'value' was added: wire the branches into it",
            node_id=node.id,
            field=field,
        )
        names = ["value"]
    return {"variables": names, "output_type": port_type(output_type)}, inputs


def convert_aggregator(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    groups = ctx.aggregator_groups(node)
    if not groups:
        config, inputs = _aggregate(
            node, ctx, data.get("variables"), data.get("output_type"), "variables"
        )
        return Built("variable_aggregator", config, inputs)
    settings = data.get("advanced_settings") or {}
    built: list[dict[str, Any]] = []
    for index, group in enumerate(g for g in settings.get("groups") or [] if isinstance(g, dict)):
        group_id = groups[str(group.get("group_name", ""))]
        config, inputs = _aggregate(
            node, ctx, group.get("variables"), group.get("output_type"), f"groups[{index}]"
        )
        title = f"{node.title}: {group.get('group_name', '')}"
        extra: dict[str, Any] = {
            "id": group_id,
            "type": "variable_aggregator",
            "title": title,
            "config": config,
        }
        position = position_of(node.raw)
        if position is not None:
            extra["position"] = {"x": position["x"], "y": position["y"] + 120 * index}
        if inputs:
            extra["inputs"] = {p: {"selector": s} for p, s in inputs.items()}
        built.append(extra)
    ids = [b["id"] for b in built]
    ctx.edge_ends[node.source_id] = (ids, ids)
    ctx.note(
        "info",
        f"an aggregator with {len(ids)} groups",
        "one variable_aggregator node per group",
        node_id=node.id,
        field="advanced_settings.groups",
    )
    first, *rest = built
    return Built(
        "variable_aggregator", first["config"], _selectors(first), extra=rest, id=first["id"]
    )


def _selectors(node: dict[str, Any]) -> dict[str, Selector]:
    return {port: mapping["selector"] for port, mapping in node.get("inputs", {}).items()}


def convert_document_extractor(node: DifyNode, ctx: DifyContext) -> Built:
    selector = ctx.selector(
        node.data.get("variable_selector"), node_id=node.id, field="variable_selector"
    )
    inputs: dict[str, Selector] = {"files": selector or ["sys", "files"]}
    outputs = {"text": "texts" if node.data.get("is_array_file") else "text"}
    return Built("document_extractor", {}, inputs, outputs=outputs)


# -- list operator ------------------------------------------------------------------------

_LIST_CODE = '''"""Generated from a Dify list operator: filter, sort, limit, then pick one item."""

FILTERS = {filters}
ORDER = {order}
LIMIT = {limit}
EXTRACT = {extract}


def _value(item, key):
    if key and isinstance(item, dict):
        return item.get(key)
    return item


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _holds(value, operator, expected):
    if operator in ("=", "≠", ">", "<", "≥", "≤"):
        a, b = _number(value), _number(expected)
        if a is None or b is None:
            return operator == "≠"
        results = {{"=": a == b, "≠": a != b, ">": a > b, "<": a < b, "≥": a >= b, "≤": a <= b}}
        return results[operator]
    text = "" if value is None else str(value)
    if operator == "contains":
        return str(expected) in text
    if operator == "not contains":
        return str(expected) not in text
    if operator == "start with":
        return text.startswith(str(expected))
    if operator == "end with":
        return text.endswith(str(expected))
    if operator == "is":
        return value == expected or text == str(expected)
    if operator == "is not":
        return not (value == expected or text == str(expected))
    if operator == "in":
        return value in expected if isinstance(expected, list) else text in str(expected)
    if operator == "not in":
        return value not in expected if isinstance(expected, list) else text not in str(expected)
    if operator == "empty":
        return value in (None, "", [], {{}})
    if operator == "not empty":
        return value not in (None, "", [], {{}})
    return True


def main(items):
    result = list(items or [])
    for key, operator, expected in FILTERS:
        result = [item for item in result if _holds(_value(item, key), operator, expected)]
    if ORDER is not None:
        key, descending = ORDER
        present = [item for item in result if _value(item, key) is not None]
        missing = [item for item in result if _value(item, key) is None]
        result = sorted(present, key=lambda item: _value(item, key), reverse=descending) + missing
    if LIMIT is not None:
        result = result[:LIMIT]
    if EXTRACT is not None:
        result = result[EXTRACT - 1 : EXTRACT] if 0 < EXTRACT <= len(result) else []
    return {{
        "result": result,
        "first_record": result[0] if result else None,
        "last_record": result[-1] if result else None,
    }}
'''


def convert_list_operator(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    selector = ctx.selector(data.get("variable"), node_id=node.id, field="variable")
    filters: list[tuple[str, str, Any]] = []
    filter_by = mapping(data.get("filter_by"))
    if filter_by.get("enabled"):
        for condition in filter_by.get("conditions") or []:
            if isinstance(condition, dict):
                filters.append(
                    (
                        str(condition.get("key") or ""),
                        str(condition.get("comparison_operator") or "contains"),
                        condition.get("value"),
                    )
                )
    order_by = mapping(data.get("order_by"))
    order = (str(order_by.get("key") or ""), order_by.get("value") == "desc")
    limit = mapping(data.get("limit"))
    extract = mapping(data.get("extract_by"))
    serial: int | None = None
    if extract.get("enabled"):
        raw_serial = str(extract.get("serial") or "1")
        serial = int(raw_serial) if raw_serial.isdigit() else 1
        if not raw_serial.isdigit():
            ctx.note(
                "action",
                f"the item to extract is given by a variable ({raw_serial!r})",
                "the first item is extracted: edit the generated code",
                node_id=node.id,
                field="extract_by.serial",
            )
    size = limit.get("size")
    code = _LIST_CODE.format(
        filters=repr(filters),
        order=repr(order) if order_by.get("enabled") else "None",
        limit=repr(size)
        if limit.get("enabled") and isinstance(size, int) and size >= 0
        else "None",
        extract=repr(serial),
    )
    item_type = port_type(data.get("var_type"))
    config = {
        "language": "python3",
        "code": code,
        "inputs": [{"name": "items", "required": False, "default": None}],
        "outputs": {"result": item_type, "first_record": "any", "last_record": "any"},
    }
    ctx.note(
        "info",
        "the list operator has no node of its own here",
        "it became a code node running generated Python (filter, sort, limit, extract)",
        node_id=node.id,
    )
    inputs: dict[str, Selector] = {"items": selector} if selector else {}
    return Built("code", config, inputs)


# -- assigner -----------------------------------------------------------------------------

_DIRECT = {"over-write": "overwrite", "set": "overwrite", "clear": "clear", "append": "append"}
_DIRECT |= {"extend": "extend", "+=": "increment"}
_COMPUTED = {
    "over-write": "{v}",
    "set": "{v}",
    "append": "list({c} or []) + [{v}]",
    "extend": "list({c} or []) + list({v} or [])",
    "+=": "({c} or 0) + {v}",
    "-=": "({c} or 0) - {v}",
    "*=": "({c} or 0) * {v}",
    "/=": "({c} or 0) / {v}",
    "remove-first": "list({c} or [])[1:]",
    "remove-last": "list({c} or [])[:-1]",
}


def _constant(kind: str, value: Any) -> Any:
    """A constant of a write as a value of the variable's type (Dify keeps numbers as text)."""
    if kind in ("number", "integer") and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return int(number) if number.is_integer() else number
    return value


def _items(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Version 2 items; a version 1 node's one write in the same shape."""
    items = data.get("items")
    if isinstance(items, list):
        return [i for i in items if isinstance(i, dict)]
    if data.get("assigned_variable_selector"):
        mode = str(data.get("write_mode") or "over-write")
        return [
            {
                "variable_selector": data.get("assigned_variable_selector"),
                "input_type": "variable",
                "operation": mode,
                "value": data.get("input_variable_selector"),
            }
        ]
    return []


class _Computed:
    """A code node applying writes in order, as Dify's assigner does (a later item sees what an
    earlier one wrote); its outputs are the new values of the variables it wrote."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.lines: list[str] = []
        self.arguments: list[str] = []
        self.inputs: dict[str, Selector] = {}
        self.outputs: dict[str, str] = {}

    def add(
        self, name: str, kind: str, operation: str, current: Selector, value: Any, variable: bool
    ) -> None:
        """Apply one write to variable ``name`` (read first from ``current``)."""
        local = f"v_{name}"
        if name not in self.outputs:
            argument = f"current_{name}"
            self.arguments.append(argument)
            self.inputs[argument] = current
            self.lines.append(f"    {local} = {argument}")
        if variable and isinstance(value, list):
            argument = f"value_{len(self.arguments)}"
            self.arguments.append(argument)
            self.inputs[argument] = value
            value_text = argument
        else:
            value_text = repr(_constant(kind, value))
        if operation == "clear":
            expression = _EMPTY.get(kind, "None")
        else:
            expression = _COMPUTED[operation].format(c=local, v=value_text)
        self.lines.append(f"    {local} = {expression}")
        self.outputs[name] = kind

    def node(self, title: str) -> dict[str, Any]:
        returned = ", ".join(f"{name!r}: v_{name}" for name in self.outputs)
        code = (
            f"def main({', '.join(self.arguments)}):\n"
            "    # Generated from a Dify variable assigner: its writes, in order.\n"
            + "\n".join(self.lines)
            + f"\n    return {{{returned}}}\n"
        )
        config = {
            "language": "python3",
            "code": code,
            "inputs": [{"name": a, "required": False, "default": None} for a in self.arguments],
            "outputs": self.outputs,
        }
        out: dict[str, Any] = {"id": self.node_id, "type": "code", "title": title, "config": config}
        if self.inputs:
            out["inputs"] = {p: {"selector": s} for p, s in self.inputs.items()}
        return out


def _direct(operation: str, value: Any, variable: bool) -> bool:
    """Whether our variable_assigner does this write itself."""
    if operation in _DIRECT:
        return True
    return operation == "-=" and not variable and isinstance(value, int | float)


def convert_assigner(node: DifyNode, ctx: DifyContext) -> Built:
    """Conversation writes -> a variable_assigner (computed first by a code node when one of
    them is an operation it lacks); loop-variable writes -> the loop's updates."""
    loop = ctx.nodes.get(node.parent or "")
    loop_names = ctx.loop_variables(loop) if loop is not None and loop.type == "loop" else {}
    writes: list[tuple[str, str, Any, bool]] = []  # (our variable, operation, value, variable?)
    loop_code = _Computed(f"{node.id}__loop")
    for index, raw in enumerate(_items(node.data)):
        field = f"items[{index}]"
        target = raw.get("variable_selector")
        operation = str(raw.get("operation") or "over-write")
        variable = raw.get("input_type", "variable") == "variable"
        value = raw.get("value")
        if variable:
            value = ctx.selector(value, node_id=node.id, field=f"{field}.value") if value else None
        if operation not in _COMPUTED and operation != "clear":
            ctx.note(
                "action",
                f"assigner operation {operation!r} is unknown",
                "the write was left out",
                node_id=node.id,
                field=f"{field}.operation",
            )
            continue
        if not isinstance(target, list) or len(target) < 2:
            continue
        head, name = str(target[0]), str(target[1])
        if loop is not None and head == loop.source_id and name in loop_names:
            ours = loop_names[name]
            loop_code.add(ours, _loop_type(loop, name), operation, [loop.id, ours], value, variable)
            ctx.loop_updates.setdefault(loop.source_id, {})[ours] = [loop_code.node_id, ours]
            continue
        if head != "conversation" or name not in ctx.conversation_names:
            ctx.note(
                "action",
                f"the assigner writes {'.'.join(map(str, target))}, which is not a conversation "
                "or loop variable here",
                "the write was left out",
                node_id=node.id,
                field=f"{field}.variable_selector",
            )
            continue
        writes.append((ctx.conversation_names[name], operation, value, variable))
    items, inputs, conversation_code = _conversation_writes(node, ctx, writes)
    return _assigner_nodes(node, ctx, items, inputs, loop_code, conversation_code)


def _conversation_writes(
    node: DifyNode, ctx: DifyContext, writes: list[tuple[str, str, Any, bool]]
) -> tuple[list[dict[str, Any]], dict[str, Selector], _Computed]:
    ports = PortNames()
    inputs: dict[str, Selector] = {}
    computed = _Computed(f"{node.id}__compute")
    items: list[dict[str, Any]] = []
    if not all(_direct(op, value, variable) for _name, op, value, variable in writes):
        for name, operation, value, variable in writes:
            kind = ctx.conversation_types.get(name, "any")
            computed.add(name, kind, operation, ["conversation", name], value, variable)
        for name in computed.outputs:
            port = ports.name_for(("computed", name), name)
            inputs[port] = [computed.node_id, name]
            items.append({"variable": name, "operation": "overwrite", "input": port})
        return items, inputs, computed
    for name, operation, value, variable in writes:
        item: dict[str, Any] = {"variable": name, "operation": _DIRECT.get(operation, "increment")}
        if operation == "clear":
            pass
        elif variable and isinstance(value, list):
            port = ports.name_for(tuple(value), str(value[-1]))
            inputs[port] = value
            item["input"] = port
        elif operation == "-=":
            item["value"] = -value
        elif value is not None:
            item["value"] = _constant(ctx.conversation_types.get(name, "any"), value)
        items.append(item)
    return items, inputs, computed


def _loop_type(loop: DifyNode, label: str) -> str:
    for variable in loop.data.get("loop_variables") or []:
        if isinstance(variable, dict) and variable.get("label") == label:
            return port_type(variable.get("var_type"))
    return "any"


def _assigner_nodes(
    node: DifyNode,
    ctx: DifyContext,
    items: list[dict[str, Any]],
    inputs: dict[str, Selector],
    loop_code: _Computed,
    conversation_code: _Computed,
) -> Built:
    extra: list[dict[str, Any]] = []
    ids: list[str] = []
    if conversation_code.lines:
        extra.append(conversation_code.node(f"{node.title} (computed)"))
        ctx.note(
            "info",
            "assigner operations without an equivalent (*=, /=, remove-first...)",
            "a code node computes the new value, then the assigner overwrites the variable",
            node_id=node.id,
        )
    if loop_code.lines:
        extra.append(loop_code.node(f"{node.title} (loop variables)"))
        ctx.note(
            "info",
            "the assigner writes loop variables",
            "a code node computes their new values; the loop takes them after each round "
            "(nodes later in the same round still read the old values)",
            node_id=node.id,
        )
    if items:
        built = Built("variable_assigner", {"items": items}, inputs, extra=extra)
        ids = [node.id, *(e["id"] for e in extra)]
        ctx.edge_ends[node.source_id] = (ids, [node.id, *(e["id"] for e in extra)])
        return built
    if extra:
        # Nothing for a variable_assigner: the first computing node takes the node's place.
        first, *rest = extra
        ids = [e["id"] for e in extra]
        ctx.edge_ends[node.source_id] = (ids, ids)
        return Built("code", first["config"], _selectors(first), extra=rest, id=first["id"])
    ctx.note(
        "warning",
        "the assigner writes nothing that carries over",
        "it became an empty template node (it keeps its place in the flow)",
        node_id=node.id,
    )
    return Built("template", {"template": ""}, {})
