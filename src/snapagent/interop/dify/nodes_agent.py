"""Dify's ``agent`` node -> our ``agent`` node (`snapagent.nodes.agent`).

A Dify agent node runs an *agent strategy* (a plugin) with ``agent_parameters``, each
``{"type": "constant" | "variable" | "mixed", "value": ...}``. The parameters every tool-calling
strategy shares carry over: ``model`` (through the importer's model mapping), ``instruction``
(the system prompt) and ``query`` (the user turn) with their references rewritten as for LLM
nodes, ``maximum_iterations``, the node's ``memory`` (chat apps: ``use_run_history``) and the
tools that have a real equivalent here:

- an MCP server URL (``mcp_server``, or the ``mcp_servers_config`` JSON of MCP strategies) -> an
  ``mcp`` tool (Streamable HTTP; an SSE-only server is reported);
- a Dify tool that is a plain HTTP API (`snapagent.interop.dify.tools`) -> an ``http`` tool.

Every other tool, strategy parameter or strategy is an ``action`` item of the report naming it
and what to do: nothing is dropped silently and no tool is made up. The node keeps Dify's
``text`` output (``files`` and ``json`` read nothing, reported where they are read). A server
without the agent node gets the placeholder it always got.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from snapagent.interop.dify.building import Built
from snapagent.interop.dify.context import DifyContext, DifyNode
from snapagent.interop.dify.references import REFERENCE, Selector
from snapagent.interop.dify.tools import http_equivalent
from snapagent.interop.names import PortNames
from snapagent.interop.shapes import mapping
from snapagent.nodes.agent_tools.config import HttpToolConfig, McpToolConfig
from snapagent.nodes.settings import get_node_settings

__all__ = ["MAX_TOOLS", "convert_agent_node", "dify_tools", "limit_tools"]

MAX_TOOLS = 32
"""Most tools of one agent node (`AgentNodeData.tools`); more are reported, not kept."""
_REPORTED_TOOLS = 32
"""Tools reported one by one; past this, one item counts the rest (a hostile file)."""
_MAX_INSTRUCTION = 20_000
_TOOL_CALLING = frozenset({"function_calling", "react", "mcp_agent", "mcp_sse"})
_KNOWN_PARAMETERS = frozenset(
    {"model", "instruction", "query", "tools", "maximum_iterations", "mcp_server",
     "mcp_servers_config", "context"}
)  # fmt: skip


def _parameter(params: dict[str, Any], name: str) -> tuple[str, Any]:
    """A strategy parameter as (its kind, its value): ``constant``, ``mixed`` or ``variable``."""
    raw = params.get(name)
    if isinstance(raw, dict) and "value" in raw:
        return str(raw.get("type") or "constant"), raw.get("value")
    return "constant", raw


def _as_text(kind: str, value: Any) -> str | None:
    """A text parameter as a Dify text with references (a variable becomes one reference)."""
    if kind == "variable":
        if isinstance(value, list) and value and all(isinstance(p, str) for p in value):
            return "{{#" + ".".join(value) + "#}}"
        return None
    return value if isinstance(value, str) else None


def convert_agent_node(node: DifyNode, ctx: DifyContext) -> Built:
    """Our agent node for a Dify agent node (see the module docstring)."""
    data = node.data
    params = mapping(data.get("agent_parameters"))
    strategy = str(data.get("agent_strategy_name") or "?")[:100]
    provider = str(data.get("agent_strategy_provider_name") or "?")[:200]
    ports = PortNames(reserved={"history", "query"})
    inputs: dict[str, Selector] = {}
    config: dict[str, Any] = {}
    _strategy_note(node, ctx, strategy, provider, params)
    _, raw_model = _parameter(params, "model")
    model = ctx.model(raw_model, node_id=node.id, field="agent_parameters.model")
    if model:
        config["model"] = model
    elif not ctx.options.model_override:
        ctx.note(
            "info",
            "the agent has no model set",
            "it uses the bot's default model",
            node_id=node.id,
            field="agent_parameters.model",
        )
    instruction = _as_text(*_parameter(params, "instruction"))
    config["instruction"] = _bounded(node, ctx, ctx.template(
        instruction or "", node_id=node.id, field="agent_parameters.instruction", ports=ports,
        inputs=inputs,
    ))  # fmt: skip
    for port in [p for p in inputs if "{{ " + p + " }}" not in config["instruction"]]:
        del inputs[port]  # its reference was in the part cut off
    extra = _query(node, ctx, params, inputs)
    config["max_iterations"] = _iterations(node, ctx, params)
    config["use_run_history"] = _memory(node, ctx)
    kind, value = _parameter(params, "tools")
    config["tools"] = limit_tools(node, ctx, [*_mcp_servers(node, ctx, params),
                                          *dify_tools(node, ctx, kind, value)])  # fmt: skip
    built = Built("agent", config, inputs, outputs={"text": "text"})
    if extra is not None:
        built.extra.append(extra)
        ctx.edge_ends[node.source_id] = ([extra["id"]], [node.id])
        built.edges.append({"source": extra["id"], "target": node.id})
    return built


def _bounded(node: DifyNode, ctx: DifyContext, instruction: str) -> str:
    """The instruction within the agent node's 20,000 characters, never cut inside a
    ``{{ ... }}`` (a broken template would not validate)."""
    if len(instruction) <= _MAX_INSTRUCTION:
        return instruction
    cut = instruction[:_MAX_INSTRUCTION]
    if cut.rfind("{{") > cut.rfind("}}"):
        cut = cut[: cut.rfind("{{")]
    ctx.note(
        "action",
        f"the instruction is longer than {_MAX_INSTRUCTION:,} characters",
        f"cut after {len(cut):,} characters: shorten it",
        node_id=node.id,
        field="agent_parameters.instruction",
    )
    return cut


def _strategy_note(
    node: DifyNode, ctx: DifyContext, strategy: str, provider: str, params: dict[str, Any]
) -> None:
    if strategy.lower() in _TOOL_CALLING:
        ctx.note(
            "info",
            f"Dify agent strategy {strategy!r} ({provider}) is a tool-calling loop",
            "it became an agent node (SnapAgent's tool-calling loop)",
            node_id=node.id,
        )
    else:
        ctx.note(
            "action",
            f"Dify agent strategy {strategy!r} ({provider}) is a plugin SnapAgent does not have",
            "it became an agent node running SnapAgent's tool-calling loop with the same model, "
            "instruction and query: check it does what the strategy did (write its behaviour "
            "into the instruction)",
            node_id=node.id,
            field="agent_strategy_name",
        )
    for name in sorted(str(p) for p in params if p not in _KNOWN_PARAMETERS)[:_REPORTED_TOOLS]:
        kind, value = _parameter(params, name)
        text = value if isinstance(value, str) else json.dumps(value, default=str)[:400]
        shown = " ".join(text[:400].split())[:120]
        ctx.note(
            "action",
            f"strategy parameter {name!r} ({kind} {shown}) has no equivalent",
            "left out: put what it does into the agent's instruction",
            node_id=node.id,
            field=f"agent_parameters.{name[:64]}",
        )


def _query(
    node: DifyNode, ctx: DifyContext, params: dict[str, Any], inputs: dict[str, Selector]
) -> dict[str, Any] | None:
    """Wire the ``query`` port: one reference is read directly; a text with references becomes
    a template node before the agent (returned), whose text is the query."""
    field = "agent_parameters.query"
    text = _as_text(*_parameter(params, "query"))
    if text is None or not text.strip():
        ctx.note(
            "warning" if text is None and "query" in params else "info",
            "the agent has no query (or not a text)",
            "it reads the user's message",
            node_id=node.id,
            field=field,
        )
        inputs["query"] = [ctx.start_id, "query"]
        return None
    match = REFERENCE.fullmatch(text.strip())
    if match is not None:
        selector = ctx.selector(match.group(1).split("."), node_id=node.id, field=field)
        if selector is None or _is_text(ctx, selector):
            inputs["query"] = selector or [ctx.start_id, "query"]
            return None
    query_inputs: dict[str, Selector] = {}
    template = ctx.template(text, node_id=node.id, field=field, ports=PortNames(),
                            inputs=query_inputs)  # fmt: skip
    query_id = f"{node.id}__query"
    inputs["query"] = [query_id, "text"]
    ctx.note(
        "info",
        "the agent's query is a text with references, or a value that is not text",
        f"a template node {query_id!r} writes it before the agent",
        node_id=node.id,
        field=field,
    )
    out: dict[str, Any] = {
        "id": query_id,
        "type": "template",
        "title": f"{node.title} (query)",
        "config": {"template": template},
    }
    if query_inputs:
        out["inputs"] = {port: {"selector": sel} for port, sel in query_inputs.items()}
    return out


def _is_text(ctx: DifyContext, selector: Selector) -> bool:
    """Whether a value is surely text (Dify renders any other query value as text first)."""
    head, rest = selector[0], selector[1:]
    if head == "conversation":
        return len(rest) == 1 and ctx.conversation_types.get(str(rest[0])) == "string"
    if head == ctx.start_id:
        return rest == ["query"] or (len(rest) == 1 and _is_text_input(ctx, str(rest[0])))
    kinds = {n.id: n.type for n in ctx.nodes.values()}
    return rest == ["text"] and kinds.get(str(head)) in ("llm", "agent", "template-transform")


def _is_text_input(ctx: DifyContext, port: str) -> bool:
    """Whether a start input is one of Dify's text kinds (a text box, a paragraph, a choice)."""
    start = ctx.nodes.get(ctx.start_id)
    declared = start.data.get("variables") if start is not None else None
    for raw in declared if isinstance(declared, list) else []:
        name = str(mapping(raw).get("variable"))
        variable = ctx.start_variables.get(name)
        if variable is not None and variable.kind == "input" and variable.port == port:
            return mapping(raw).get("type") in ("text-input", "paragraph", "select")
    return False


def _iterations(node: DifyNode, ctx: DifyContext, params: dict[str, Any]) -> int:
    limit = get_node_settings().agent_max_iterations
    kind, value = _parameter(params, "maximum_iterations")
    field = "agent_parameters.maximum_iterations"
    if value is None and "maximum_iterations" not in params:
        return min(5, limit)
    if isinstance(value, str) and value.strip().isdigit() and len(value) < 8:
        value = int(value)
    if kind != "constant" or not isinstance(value, int) or isinstance(value, bool) or value < 1:
        ctx.note(
            "warning",
            f"maximum_iterations is not a positive number ({kind} "
            f"{json.dumps(value, default=str)[:80]})",
            f"max_iterations = {min(5, limit)}",
            node_id=node.id,
            field=field,
        )
        return min(5, limit)
    if value > limit:
        ctx.note(
            "warning",
            f"maximum_iterations {value} is over this server's limit",
            f"max_iterations = {limit} (SNAPAGENT_AGENT_MAX_ITERATIONS)",
            node_id=node.id,
            field=field,
        )
        return limit
    return value


def _memory(node: DifyNode, ctx: DifyContext) -> bool:
    """Dify's agent sees the chat so far only with memory on (chat apps)."""
    memory = node.data.get("memory")
    if not isinstance(memory, dict):
        return False
    if ctx.mode not in ("advanced-chat", "chat", "agent-chat"):
        return False
    window = mapping(memory.get("window"))
    if window.get("enabled"):
        ctx.note(
            "info",
            f"memory window of {str(window.get('size'))[:20]} messages: the agent sends the "
            "chat history the session keeps",
            "use_run_history is on",
            node_id=node.id,
            field="memory.window",
        )
    return True


def dify_tools(
    node: DifyNode, ctx: DifyContext, kind: str, value: Any, field: str = "agent_parameters.tools"
) -> list[dict[str, Any]]:
    """The Dify tools with a real equivalent; an action item for each of the others."""
    tools: list[dict[str, Any]] = []
    if value is not None and not isinstance(value, list):
        ctx.note(
            "warning",
            f"the agent's tools are not a list ({kind})",
            "no tool carried over: add the tools to the agent node",
            node_id=node.id,
            field=field,
        )
        value = []
    unmapped = 0
    for index, raw in enumerate(value or []):
        place = f"{field}[{index}]"
        if not isinstance(raw, dict):
            unmapped += 1
            if unmapped <= _REPORTED_TOOLS:
                ctx.note("warning", "a tool entry is not a mapping", "left out",
                         node_id=node.id, field=place)  # fmt: skip
            continue
        provider = str(raw.get("provider_name") or raw.get("provider_id") or "?")[:200]
        name = str(raw.get("tool_name") or "?")[:200]
        if raw.get("enabled") is False:
            if unmapped < _REPORTED_TOOLS:
                ctx.note("info", f"tool {provider}/{name} is disabled in Dify", "left out",
                         node_id=node.id, field=place)  # fmt: skip
            continue
        tool = _http_tool(raw, name)
        if tool is not None:
            tools.append(tool)
            ctx.note(
                "info",
                f"tool {provider}/{name} is a plain HTTP API",
                f"it became the agent's http tool {tool['name']!r}",
                node_id=node.id,
                field=place,
            )
            continue
        unmapped += 1
        if unmapped <= _REPORTED_TOOLS:
            ctx.note(
                "action",
                f"Dify tool {provider}/{name} ({_tool_kind(raw)} "
                "provider) has no SnapAgent equivalent",
                "left out of the agent: give the agent an MCP server or an HTTP tool that does "
                "the same",
                node_id=node.id,
                field=place,
            )
    if unmapped > _REPORTED_TOOLS:
        ctx.note(
            "action",
            f"{unmapped - _REPORTED_TOOLS} more Dify tools have no SnapAgent equivalent",
            "left out of the agent: give it MCP servers or HTTP tools that do the same",
            node_id=node.id,
            field=field,
        )
    return tools


def _tool_kind(raw: dict[str, Any]) -> str:
    return str(raw.get("type") or raw.get("provider_type") or "unknown")[:40]


def limit_tools(
    node: DifyNode, ctx: DifyContext, tools: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """At most `MAX_TOOLS` tools, each name (and MCP URL) once."""
    kept: list[dict[str, Any]] = []
    seen: set[str] = set()
    for tool in tools:
        key = str(tool.get("name") or tool.get("url"))
        if key in seen:
            continue
        seen.add(key)
        kept.append(tool)
    if len(kept) > MAX_TOOLS:
        ctx.note(
            "action",
            f"the agent has {len(kept)} tools; an agent node takes at most {MAX_TOOLS}",
            f"the first {MAX_TOOLS} were kept: split the work between agents",
            node_id=node.id,
            field="agent_parameters.tools",
        )
    return kept[:MAX_TOOLS]


def _http_tool(raw: dict[str, Any], name: str) -> dict[str, Any] | None:
    equivalent = http_equivalent(raw)
    if equivalent is None:
        return None
    url, argument = equivalent
    description = str(mapping(raw.get("extra")).get("description") or "").strip()
    config = {
        "type": "http",
        "name": name,
        "description": (description or f"Dify tool {name}")[:4_000],
        "parameters": {
            "type": "object",
            "properties": {argument: {"type": "string"}},
            "required": [argument],
        },
        "method": "GET",
        "url": url.replace("{{ " + argument + " }}", "{" + argument + "}"),
    }
    try:
        return HttpToolConfig.model_validate(config).model_dump(exclude_defaults=True)
    except ValidationError:
        return None  # e.g. the URL is the argument itself: no fixed host to call


def _mcp_servers(node: DifyNode, ctx: DifyContext, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``mcp_server`` (one URL, or JSON as below) and ``mcp_servers_config`` (JSON: name ->
    {url, headers}, possibly under ``mcpServers``)."""
    found: list[tuple[str, str, Any]] = []
    for name in ("mcp_server", "mcp_servers_config"):
        if name not in params:
            continue
        kind, value = _parameter(params, name)
        field = f"agent_parameters.{name}"
        if name == "mcp_server" and not (isinstance(value, str) and value.lstrip()[:1] == "{"):
            found.append((field, kind, value))  # one URL (else the JSON form: several)
            continue
        servers: Any = None
        if kind == "constant" and isinstance(value, str):
            try:
                servers = json.loads(value)
            except (ValueError, RecursionError):  # RecursionError: hostile nesting
                servers = None
        servers = servers.get("mcpServers", servers) if isinstance(servers, dict) else None
        if not isinstance(servers, dict):
            ctx.note("action", "the MCP servers configuration is not a JSON object",
                     "no MCP server carried over: add them to the agent's tools",
                     node_id=node.id, field=field)  # fmt: skip
            continue
        for server_name, server in list(servers.items())[:MAX_TOOLS]:
            url = mapping(server).get("url")
            found.append((f"{field}.{str(server_name)[:64]}", "constant", url))
    tools = []
    for field, kind, url in found:
        tool = _mcp_tool(node, ctx, field, kind, url)
        if tool is not None:
            tools.append(tool)
    return tools


def _mcp_tool(
    node: DifyNode, ctx: DifyContext, field: str, kind: str, url: Any
) -> dict[str, Any] | None:
    if kind != "constant" or not isinstance(url, str) or not url.strip():
        ctx.note(
            "action",
            f"the MCP server URL is not a fixed text ({kind})",
            "no MCP server carried over: add an mcp tool with the server's URL",
            node_id=node.id,
            field=field,
        )
        return None
    url = url.strip()
    try:
        McpToolConfig.model_validate({"type": "mcp", "url": url})
    except ValidationError as exc:
        reason = exc.errors()[0].get("msg", "invalid") if exc.errors() else "invalid"
        ctx.note(
            "action",
            f"MCP server URL {url[:200]!r} cannot be used: {str(reason)[:200]}",
            "no MCP server carried over: add an mcp tool with a reachable http(s) URL",
            node_id=node.id,
            field=field,
        )
        return None
    path = url.split("?", 1)[0].rstrip("/")
    if path.endswith("/sse") or "/sse/" in path:
        ctx.note(
            "action",
            f"MCP server {url[:200]!r} is an SSE endpoint; SnapAgent speaks MCP's Streamable "
            "HTTP transport",
            "kept as an mcp tool: if the server does not answer there, use its Streamable "
            "HTTP URL (often .../mcp)",
            node_id=node.id,
            field=field,
        )
    else:
        ctx.note("info", f"MCP server {url[:200]!r}", "an mcp tool of the agent",
                 node_id=node.id, field=field)  # fmt: skip
    if url.endswith("=") or "*" in url:
        ctx.note(
            "action",
            "the MCP server URL has an empty or masked value (an API key?)",
            "fill it in on the agent's mcp tool",
            node_id=node.id,
            field=field,
        )
    return {"type": "mcp", "url": url}
