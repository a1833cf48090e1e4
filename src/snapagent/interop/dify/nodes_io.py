"""Start (and triggers), end and answer nodes.

Dify's start variables become the start node's declared inputs, except the chat message and
files: in an advanced-chat app the message is ``sys.query`` (our start's ``query``); in a
workflow or completion app - which take a form, not a message - the first text variable reads
the chat message, so the app answers a chat. Files arrive with the chat turn (``sys.files``).
Environment variables become inputs with their values as defaults (secrets have no value in
an export). A chat has no form, so required variables become optional (reported).
"""

from __future__ import annotations

from typing import Any

from snapagent.interop.dify.building import Built, port_type
from snapagent.interop.dify.context import DifyContext, DifyNode, StartVariable
from snapagent.interop.names import PortNames, unique_identifiers

__all__ = [
    "TRIGGER_TYPES",
    "convert_answer",
    "convert_end",
    "convert_start",
    "setup_start",
]

TRIGGER_TYPES = frozenset({"trigger-webhook", "trigger-schedule", "trigger-plugin"})
_BUILTIN_START = ("query", "session_id", "history")
_TEXT_TYPES = frozenset({"text-input", "paragraph", "select", "text", "string"})
_FILE_TYPES = frozenset({"file", "file-list"})
_CHAT_MODES = frozenset({"advanced-chat", "chat", "agent-chat"})


def _variables(node: DifyNode) -> list[dict[str, Any]]:
    raw = node.data.get("variables")
    return [v for v in raw if isinstance(v, dict)] if isinstance(raw, list) else []


def _trigger_names(node: DifyNode) -> list[str]:
    """The values a trigger node outputs (webhook headers, query params, body fields...)."""
    names: list[str] = []
    for key in ("variables", "headers", "params", "body", "parameters", "outputs"):
        value = node.data.get(key)
        items = value if isinstance(value, list) else []
        for item in items:
            if isinstance(item, dict):
                name = item.get("variable") or item.get("name")
                if isinstance(name, str) and name:
                    names.append(name)
    return names


def setup_start(ctx: DifyContext, start: DifyNode | None, triggers: list[DifyNode]) -> None:
    """Decide where each start variable and environment variable lives (before any node reads
    them)."""
    taken: set[str] = set(_BUILTIN_START)
    variables = _variables(start) if start is not None else []
    message: str | None = None
    if ctx.mode not in _CHAT_MODES:
        texts = [v for v in variables if v.get("type", "text-input") in _TEXT_TYPES]
        required = [v for v in texts if v.get("required")]
        if required or texts:
            message = str((required or texts)[0].get("variable", ""))
    names = [str(v.get("variable", "")) for v in variables if str(v.get("variable", "")) != message]
    names += [n for t in triggers for n in _trigger_names(t)]
    ports = unique_identifiers(names, taken=taken, fallback="input")
    taken |= set(ports.values())
    for variable in variables:
        name = str(variable.get("variable", ""))
        if name == message:
            ctx.start_variables[name] = StartVariable("message", "query")
        elif variable.get("type") in _FILE_TYPES:
            ctx.start_variables[name] = StartVariable("files", "files")
        else:
            ctx.start_variables[name] = StartVariable("input", ports[name])
    for name in (n for t in triggers for n in _trigger_names(t)):
        if name not in ctx.start_variables:
            ctx.start_variables[name] = StartVariable("input", ports[name])
            ctx.trigger_inputs.append(name)
    env_names = [str(e.get("name", "")) for e in ctx.environment]
    env_ports = unique_identifiers([f"env_{n}" for n in env_names], taken=taken, fallback="env")
    ctx.env_ports = {n: env_ports[f"env_{n}"] for n in env_names}
    if message is not None:
        ctx.note(
            "info",
            f"this {ctx.mode} app takes a form; its input {message!r} is the chat message",
            "it reads the start node's query",
            node_id=ctx.start_id,
            field=f"variables.{message}",
        )


def convert_start(node: DifyNode, ctx: DifyContext) -> Built:
    declared: list[dict[str, Any]] = []
    made_optional: list[str] = []
    for variable in _variables(node):
        name = str(variable.get("variable", ""))
        where = ctx.start_variables.get(name)
        kind = str(variable.get("type") or "text-input")
        if where is None or where.kind == "message":
            continue
        if where.kind == "files":
            ctx.note(
                "info",
                f"file input {name!r}: files come with the chat turn here",
                "references to it read sys.files (the files attached to the message)",
                node_id=node.id,
                field=f"variables.{name}",
            )
            continue
        port: dict[str, Any] = {"name": where.port, "type": port_type(kind), "required": False}
        default = variable.get("default")
        if default not in (None, ""):
            port["default"] = default
        elif port["type"] == "string":
            port["default"] = ""
        label = variable.get("label")
        options = variable.get("options")
        description = label if isinstance(label, str) and label != name else ""
        if isinstance(options, list) and options:
            listed = ", ".join(str(o) for o in options[:20])
            description = f"{description} (one of: {listed})".strip()
            ctx.note(
                "info",
                f"select input {name!r}: its options are not enforced",
                "the options are listed in the input's description",
                node_id=node.id,
                field=f"variables.{name}.options",
            )
        if description:
            port["description"] = description
        if variable.get("required"):
            made_optional.append(name)
        if kind not in ("text-input", "paragraph", "select", "number", "checkbox", "json_object"):
            ctx.note(
                "warning",
                f"input {name!r} has type {kind!r}, which has no equivalent",
                f"declared as {port['type']}",
                node_id=node.id,
                field=f"variables.{name}.type",
            )
        declared.append(port)
    for name in ctx.trigger_inputs if node.type in TRIGGER_TYPES else []:
        declared.append(
            {"name": ctx.start_variables[name].port, "required": False, "default": None}
        )
    if made_optional:
        ctx.note(
            "warning",
            f"required inputs {', '.join(repr(n) for n in made_optional)}: a chat has no form "
            "to fill them",
            "they are optional (empty unless a run passes them as inputs)",
            node_id=node.id,
            field="variables",
        )
    for env in ctx.environment:
        name = str(env.get("name", ""))
        value_type = str(env.get("value_type") or "string")
        port = {"name": ctx.env_ports[name], "type": port_type(value_type), "required": False}
        if value_type == "secret":
            port["type"] = "string"
            port["description"] = f"secret environment variable {name}"
            ctx.note(
                "action",
                f"secret environment variable {name!r}: its value is never in an export",
                f"it became the run input {ctx.env_ports[name]!r} with no value: give it as a "
                "default of the start node's input (or as a run input)",
                field=f"environment_variables.{name}",
            )
        else:
            port["default"] = env.get("value")
            port["description"] = f"environment variable {name}"
            ctx.note(
                "info",
                f"environment variable {name!r}",
                f"it became the start input {ctx.env_ports[name]!r} with its value as default",
                field=f"environment_variables.{name}",
            )
        declared.append(port)
    return Built("start", {"inputs": declared} if declared else {})


def convert_end(node: DifyNode, ctx: DifyContext) -> Built:
    raw_outputs = [o for o in node.data.get("outputs") or [] if isinstance(o, dict)]
    names = unique_identifiers([str(o.get("variable", "")) for o in raw_outputs], fallback="output")
    outputs: list[str] = []
    inputs: dict[str, list[str | int]] = {}
    text_like: list[str] = []
    for index, output in enumerate(raw_outputs):
        name = names[str(output.get("variable", ""))]
        selector = ctx.selector(
            output.get("value_selector"), node_id=node.id, field=f"outputs[{index}]"
        )
        if selector is None:
            continue
        outputs.append(name)
        inputs[name] = selector
        if output.get("value_type") in (None, "", "string"):
            text_like.append(name)
        if name != output.get("variable"):
            ctx.note(
                "info",
                f"output {output.get('variable')!r} is not a valid port name",
                f"renamed to {name!r}",
                node_id=node.id,
                field=f"outputs[{index}].variable",
            )
    if "answer" not in outputs and (text_like or outputs):
        chosen = (text_like or outputs)[0]
        outputs.append("answer")
        inputs["answer"] = inputs[chosen]
        ctx.note(
            "info",
            "a chat answers with the run's 'answer' output; this workflow has none",
            f"an 'answer' output repeats {chosen!r}",
            node_id=node.id,
            field="outputs",
        )
    elif not outputs:
        ctx.note(
            "warning",
            "the end node has no outputs: a chat with this bot answers with empty text",
            "kept as it is",
            node_id=node.id,
            field="outputs",
        )
    return Built("end", {"outputs": outputs}, inputs)


def convert_answer(node: DifyNode, ctx: DifyContext) -> Built:
    inputs: dict[str, list[str | int]] = {}
    template = ctx.template(
        node.data.get("answer", ""),
        node_id=node.id,
        field="answer",
        ports=PortNames(),
        inputs=inputs,
    )
    return Built("answer", {"answer": template}, inputs)
