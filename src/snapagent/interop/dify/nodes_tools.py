"""Nodes that reach outside: http-request, tool, agent - and the placeholder every node
without an equivalent becomes.

A **placeholder** keeps the node's place, title, outputs and branches, and the original
Dify data (so an export to Dify writes it back), and fails with a clear message when it runs;
the report lists it. With the error strategy the Dify node had (``default-value``,
``fail-branch``), the run can still go on around it.
"""

from __future__ import annotations

import re
from typing import Any

from snapagent.interop.dify.building import Built, port_type
from snapagent.interop.dify.context import DifyContext, DifyNode
from snapagent.interop.dify.nodes_agent import convert_agent_node
from snapagent.interop.dify.references import Selector
from snapagent.interop.dify.tools import http_equivalent
from snapagent.interop.names import PortNames
from snapagent.interop.shapes import mapping

__all__ = ["convert_agent", "convert_http", "convert_tool", "placeholder"]

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
_TOOL_OUTPUTS = {"text": "string", "json": "array[object]", "files": "array[object]"}


def placeholder(
    node: DifyNode,
    ctx: DifyContext,
    message: str,
    *,
    outputs: dict[str, str] | None = None,
    branches: list[str] | None = None,
    action: str = "replace it with a node that does the same",
) -> Built:
    """A node that fails at run time with ``message`` (see the module docstring)."""
    declared = dict(outputs or {})
    for name in sorted(ctx.referenced_outputs.get(node.source_id, set())):
        declared.setdefault(name, "any")
    config: dict[str, Any] = {
        "message": message,
        "source": f"dify:{node.type}",
        "original": node.data,
        "outputs": {name: kind for name, kind in declared.items() if _port_ok(name)},
    }
    handles: dict[str, str | None] = {}
    if branches:
        config["branches"] = branches
        handles = {b: b for b in branches}
    ctx.note("action", message, f"a placeholder that fails when it runs: {action}", node_id=node.id)
    return Built("placeholder", config, {}, handles=handles)


def _port_ok(name: str) -> bool:
    return bool(re.match(r"^[^\W\d]\w*$", name))


def _pairs(raw: Any) -> list[tuple[str, str]]:
    """Dify's ``key:value`` lines (or a list of ``{"key", "value"}``) as pairs."""
    if isinstance(raw, list):
        return [
            (str(i.get("key", "")), str(i.get("value", "")))
            for i in raw
            if isinstance(i, dict) and i.get("key")
        ]
    pairs = []
    for line in str(raw or "").splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            if key.strip():
                pairs.append((key.strip(), value.strip()))
    return pairs


def _templated(
    pairs: list[tuple[str, str]], node: DifyNode, ctx: DifyContext, ports: PortNames,
    inputs: dict[str, Selector], field: str, *, header: bool,
) -> dict[str, str]:  # fmt: skip
    out: dict[str, str] = {}
    for key, value in pairs:
        name = ctx.template(key, node_id=node.id, field=field, ports=ports, inputs=inputs)
        if header and not _HEADER_NAME.match(name):
            ctx.note(
                "warning",
                f"header name {key!r} is computed or not valid",
                "the header was left out",
                node_id=node.id,
                field=field,
            )
            continue
        out[name] = ctx.template(value, node_id=node.id, field=field, ports=ports, inputs=inputs)
    return out


def convert_http(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    ports = PortNames()
    inputs: dict[str, Selector] = {}

    def text(value: Any, field: str) -> str:
        return ctx.template(value, node_id=node.id, field=field, ports=ports, inputs=inputs)

    method = str(data.get("method") or "get").upper()
    if method not in _METHODS:
        ctx.note("warning", f"method {method!r} is not supported", "GET is used", node_id=node.id)
        method = "GET"
    config: dict[str, Any] = {"method": method, "url": text(data.get("url"), "url") or "https://"}
    headers = _templated(
        _pairs(data.get("headers")), node, ctx, ports, inputs, "headers", header=True
    )
    params = _templated(
        _pairs(data.get("params")), node, ctx, ports, inputs, "params", header=False
    )
    _authorization(data.get("authorization"), headers, node, ctx, text)
    if headers:
        config["headers"] = headers
    if params:
        config["params"] = params
    body = _body(data.get("body"), node, ctx, text, headers)
    if body is not None:
        config["body"] = body
    timeout = data.get("timeout")
    if isinstance(timeout, dict):
        values = [
            v
            for k, v in timeout.items()
            if k in ("connect", "read", "write") and isinstance(v, int | float) and v > 0
        ]
        if values:
            config["timeout_s"] = float(min(3600, max(values)))
            ctx.note(
                "info",
                "connect/read/write timeouts become one limit on the whole request",
                f"timeout_s = {config['timeout_s']:g}",
                node_id=node.id,
                field="timeout",
            )
    if data.get("ssl_verify") is False:
        ctx.note(
            "warning",
            "TLS certificate checks cannot be turned off",
            "certificates are verified",
            node_id=node.id,
            field="ssl_verify",
        )
    return Built("http_request", config, inputs)


def _authorization(
    raw: Any, headers: dict[str, str], node: DifyNode, ctx: DifyContext, text: Any
) -> None:
    if not isinstance(raw, dict) or raw.get("type") != "api-key":
        return
    config = mapping(raw.get("config"))
    key = text(config.get("api_key") or "", "authorization.config.api_key")
    kind = config.get("type")
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {key}"
    elif kind == "basic":
        headers["Authorization"] = f"Basic {key}"
    else:
        name = str(config.get("header") or "Authorization")
        headers[name if _HEADER_NAME.match(name) else "Authorization"] = key
    ctx.note(
        "info",
        "the API key authorization is a request header here",
        "the key is in the node's headers (the graph stores it: prefer a secret input)",
        node_id=node.id,
        field="authorization",
    )


def _body(
    raw: Any, node: DifyNode, ctx: DifyContext, text: Any, headers: dict[str, str]
) -> dict[str, Any] | None:
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type") or "none"
    data = raw.get("data")
    if kind == "none":
        return None
    if kind in ("json", "raw-text"):
        if isinstance(data, list):
            data = "".join(str(i.get("value", "")) for i in data if isinstance(i, dict))
        content_type = "application/json" if kind == "json" else "text/plain; charset=utf-8"
        for name in list(headers):
            if name.lower() == "content-type":
                content_type = headers.pop(name)
        return {"type": "raw", "raw": text(data or "", "body.data"), "content_type": content_type}
    if kind in ("form-data", "x-www-form-urlencoded"):
        items = data if isinstance(data, list) else [
            {"key": k, "value": v, "type": "text"} for k, v in _pairs(data)
        ]  # fmt: skip
        form: dict[str, str] = {}
        for item in items:
            if not isinstance(item, dict) or not item.get("key"):
                continue
            if item.get("type") == "file":
                ctx.note(
                    "warning",
                    f"form field {item.get('key')!r} uploads a file, which is not supported",
                    "the field was left out",
                    node_id=node.id,
                    field="body.data",
                )
                continue
            form[str(item["key"])] = text(item.get("value", ""), "body.data")
        if kind == "form-data":
            ctx.note(
                "info",
                "a multipart form body is sent URL-encoded",
                "the same fields, as application/x-www-form-urlencoded",
                node_id=node.id,
                field="body.type",
            )
        return {"type": "form", "form": form}
    ctx.note(
        "action",
        f"a {kind!r} request body is not supported",
        "the request is sent without a body: rebuild it",
        node_id=node.id,
        field="body.type",
    )
    return None


def _tool_parameter(value: Any) -> Any:
    if isinstance(value, dict) and "value" in value:
        return value.get("value")
    return value


def convert_tool(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    provider = str(data.get("provider_name") or data.get("provider_id") or "")
    tool = str(data.get("tool_name") or "")
    kind = str(data.get("provider_type") or "")
    parameters = mapping(data.get("tool_parameters"))
    equivalent = http_equivalent(data)
    if equivalent is not None:
        url, argument = equivalent
        raw = _tool_parameter(parameters.get(argument))
        ports = PortNames()
        inputs: dict[str, Selector] = {}
        if isinstance(raw, list):  # a variable parameter: a selector
            selector = ctx.selector(raw, node_id=node.id, field=f"tool_parameters.{argument}")
            value = "{{ " + argument + " }}"
            if selector is not None:
                inputs[argument] = selector
        else:
            value = ctx.template(
                raw, node_id=node.id, field=f"tool_parameters.{argument}", ports=ports,
                inputs=inputs,
            )  # fmt: skip
        config = {"method": "GET", "url": url.replace("{{ " + argument + " }}", value)}
        ctx.note(
            "info",
            f"tool {provider}/{tool} is a plain HTTP API",
            "it became an http_request node (its text output is the response body)",
            node_id=node.id,
        )
        return Built("http_request", config, inputs, outputs={"text": "body"})
    outputs = dict(_TOOL_OUTPUTS)
    schema = data.get("output_schema")
    if isinstance(schema, dict) and isinstance(schema.get("properties"), dict):
        for name, spec in schema["properties"].items():
            outputs.setdefault(
                str(name), port_type(spec.get("type") if isinstance(spec, dict) else "")
            )
    return placeholder(
        node,
        ctx,
        f"Dify tool {provider or '?'}/{tool or '?'} ({kind or 'unknown'} provider) has no "
        "SnapAgent equivalent",
        outputs=outputs,
        action="replace it with an http_request or code node, or an agent with an MCP tool",
    )


def convert_agent(node: DifyNode, ctx: DifyContext) -> Built:
    """Our agent node (`snapagent.interop.dify.nodes_agent`) when the server has one and the
    node's parameters are readable; else a placeholder."""
    data = node.data
    strategy = str(data.get("agent_strategy_name") or "?")[:100]
    provider = str(data.get("agent_strategy_provider_name") or "?")[:200]
    params = data.get("agent_parameters")
    if "agent" not in ctx.options.node_types:
        message = (
            f"Dify agent node (strategy {strategy!r} of {provider}) cannot run here: SnapAgent's "
            "agent node is not available on this server"
        )
        action = "replace it with an llm node, or an agent node when the server has one"
    elif not ctx.agent_converts(node):
        message = (
            f"Dify agent node (strategy {strategy!r} of {provider}) has agent_parameters that "
            f"are not a mapping ({type(params).__name__})"
        )
        action = "replace it with an agent node and set its model, instruction and tools"
    else:
        return convert_agent_node(node, ctx)
    return placeholder(node, ctx, message, outputs=dict(_TOOL_OUTPUTS), action=action)
