"""Our ``agent`` node -> a Dify ``agent`` node running a function-calling strategy.

The inverse of `nodes_agent`: the model (through the writer's model mapping, written as Dify's
``model-selector`` value), the instruction and the query with their references rewritten as for
LLM nodes, ``maximum_iterations``, memory (chat apps, ``use_run_history``) and the MCP tools.
With no MCP tool the strategy is Dify's own ``langgenius/agent/agent`` ``function_calling``;
with MCP tools it is the same loop from the ``hjlarry/agent/mcp_agent`` plugin, whose
``mcp_server`` parameter takes one server URL or a JSON object of servers (name -> url). Every
tool Dify's agent cannot get from an export (HTTP, knowledge and bot tools) and every setting
with no Dify equivalent is a report item naming it: nothing is dropped silently.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapagent.interop.dify.writer_nodes import NodeWriter

__all__ = ["agent_data"]

_FUNCTION_CALLING = ("langgenius/agent/agent", "FunctionCalling")
_MCP_FUNCTION_CALLING = ("hjlarry/agent/mcp_agent", "MCP FunctionCalling")
_NO_DIFY_SETTING = {
    "on_max_iterations": "answer",
    "timeout_s": None,
    "tool_timeout_s": None,
    "max_tool_result_chars": None,
    "parallel_tools": True,
}
_REPORTED = 32
"""Tools reported one by one; past this, one item counts the rest (a hostile graph)."""
_MCP_TIMEOUTS = {"timeout": 5, "sse_read_timeout": 300}
"""The per-server settings the MCP strategy's JSON form expects (its documented defaults)."""


def _constant(value: Any) -> dict[str, Any]:
    return {"type": "constant", "value": value}


def agent_data(
    writer: NodeWriter, node: dict[str, Any], config: dict[str, Any], inputs: dict[str, list[str]]
) -> dict[str, Any]:
    """The Dify agent node data for our agent node (see the module docstring)."""
    node_id = str(node.get("id"))
    model = writer.model(config.get("model"), node_id)
    params: dict[str, Any] = {}
    for key in ("temperature", "max_tokens"):
        if isinstance(config.get(key), int | float) and not isinstance(config.get(key), bool):
            params[key] = config[key]
    selector = {
        "completion_params": params,
        "mode": model["mode"],
        "model": model["name"],
        "model_type": "llm",
        "provider": model["provider"],
        "type": "model-selector",
    }
    parameters: dict[str, Any] = {
        "model": _constant(selector),
        "instruction": _constant(_instruction(writer, node_id, config, inputs)),
        "query": _constant(_query(writer, inputs)),
        "maximum_iterations": _constant(_iterations(config)),
    }
    servers = _tools(writer, node_id, config.get("tools"))
    provider, label = _MCP_FUNCTION_CALLING if servers else _FUNCTION_CALLING
    if servers:
        parameters["mcp_server"] = _constant(_mcp_server(servers))
    parameters["tools"] = _constant([])
    writer.note(
        "info",
        f"the agent runs Dify's {label} strategy ({provider})",
        "install that agent strategy plugin in Dify before running the app",
        node_id,
    )
    for key, default in _NO_DIFY_SETTING.items():
        if key in config and config[key] != default:
            writer.note(
                "info",
                f"agent setting {key} = {str(config[key])[:80]} has no Dify setting",
                "left out",
                node_id,
            )
    data: dict[str, Any] = {
        "type": "agent",
        "agent_strategy_provider_name": provider,
        "agent_strategy_name": "function_calling",
        "agent_strategy_label": label,
        "agent_parameters": parameters,
        "output_schema": None,
    }
    if config.get("use_run_history", True) is not False and writer.chat:
        data["memory"] = {"window": {"enabled": False, "size": 10}, "query_prompt_template": ""}
    return data


def _instruction(
    writer: NodeWriter, node_id: str, config: dict[str, Any], inputs: dict[str, list[str]]
) -> str:
    instruction = config.get("instruction")
    if not isinstance(instruction, str):
        return ""
    ports = {port: sel for port, sel in inputs.items() if port != "query"}
    text, plain = writer.text(instruction, ports, node_id, "instruction")
    if not plain:
        writer.note(
            "warning",
            "the agent's instruction uses Jinja2 beyond substitutions",
            "written as it is: Dify's agent instruction does not render Jinja2",
            node_id,
        )
    return text


def _query(writer: NodeWriter, inputs: dict[str, list[str]]) -> str:
    selector = inputs.get("query") or writer.selector([writer.start_id, "query"], "")
    return "{{#" + ".".join(str(part) for part in selector or ["sys", "query"]) + "#}}"


def _iterations(config: dict[str, Any]) -> int:
    value = config.get("max_iterations")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return 5


def _tools(writer: NodeWriter, node_id: str, tools: Any) -> list[tuple[str, str]]:
    """The MCP servers as (name, url); a report item for every other tool."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        writer.note("warning", "the agent's tools are not a list", "no tool written", node_id)
        return []
    servers: list[tuple[str, str]] = []
    left_out = 0
    for index, tool in enumerate(tools):
        tool = tool if isinstance(tool, dict) else {}
        kind = str(tool.get("type") or "unknown")[:40]
        url = tool.get("url")
        if kind == "mcp" and isinstance(url, str) and url.strip():
            if url.strip() not in {u for _, u in servers}:
                servers.append((f"server{len(servers) + 1}", url.strip()))
            _mcp_notes(writer, node_id, tool, url.strip())
            continue
        left_out += 1
        if left_out <= _REPORTED:
            writer.note(
                "action",
                f"agent tool {_tool_name(tool, index)} ({kind} tool) has no Dify equivalent",
                "left out of the Dify agent: add a Dify tool that does the same",
                node_id,
            )
    if left_out > _REPORTED:
        writer.note(
            "action",
            f"{left_out - _REPORTED} more agent tools have no Dify equivalent",
            "left out of the Dify agent: add Dify tools that do the same",
            node_id,
        )
    return servers


def _tool_name(tool: dict[str, Any], index: int) -> str:
    name = tool.get("name")
    if tool.get("type") == "knowledge" and not name:
        name = "search_knowledge"
    if tool.get("type") == "knowledge":
        bases = tool.get("knowledge_base_ids")
        shown = ", ".join(str(b)[:64] for b in bases[:5]) if isinstance(bases, list) else ""
        return f"{str(name)[:64]!r} (knowledge bases {shown or 'none'})"
    return repr(str(name)[:64]) if name else f"#{index + 1}"


def _mcp_notes(writer: NodeWriter, node_id: str, tool: dict[str, Any], url: str) -> None:
    shown = url[:200]
    if tool.get("headers"):
        writer.note(
            "action",
            f"the headers of MCP server {shown!r} are not written (they may hold secrets)",
            "add them to the server's entry in the agent's MCP server setting in Dify",
            node_id,
        )
    if tool.get("tools"):
        writer.note(
            "info",
            f"MCP server {shown!r} offers only some of its tools here",
            "Dify's agent offers all of the server's tools",
            node_id,
        )
    if tool.get("prefix"):
        writer.note(
            "info",
            f"the tool name prefix of MCP server {shown!r} has no Dify setting",
            "left out",
            node_id,
        )


def _mcp_server(servers: list[tuple[str, str]]) -> str:
    """One server: its URL; several: the strategy's JSON form (name -> url and timeouts)."""
    if len(servers) == 1:
        return servers[0][1]
    config = {name: {"url": url, "headers": {}, **_MCP_TIMEOUTS} for name, url in servers}
    return json.dumps(config, ensure_ascii=False, indent=2)
