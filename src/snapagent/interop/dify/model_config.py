"""Dify's chat, agent-chat and completion apps (a ``model_config`` instead of a graph) -> the
equivalent graph: start -> [knowledge] -> llm (or agent) -> end.

Their prompts use simple variables (``{{name}}``, the form's inputs) and, in advanced mode,
``{{#context#}}``, ``{{#query#}}`` and ``{{#histories#}}``. A simple-mode prompt with
knowledge gets the retrieved context appended to its system prompt (Dify inserts it there
too); a chat app keeps its history (``use_run_history``).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from snapagent.interop.dify.building import Built, finish_node
from snapagent.interop.dify.context import DifyContext, DifyNode
from snapagent.interop.dify.nodes_agent import MAX_TOOLS, dify_tools, limit_tools
from snapagent.interop.dify.nodes_io import convert_start, setup_start
from snapagent.interop.dify.nodes_tools import placeholder
from snapagent.interop.dify.references import Selector, escape_jinja
from snapagent.interop.names import PortNames
from snapagent.interop.shapes import mapping
from snapagent.nodes.settings import get_node_settings
from snapagent.nodes.templating import template_variables

__all__ = ["convert_model_config"]

_SIMPLE_VARIABLE = re.compile(
    r"\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}|\{\{#(context|query|histories)#\}\}"
)
_FORM_TYPES = ("text-input", "paragraph", "select", "number", "checkbox", "file", "file-list")
_CONTEXT_BLOCK = (
    "Use the following context as your knowledge:\n<context>\n{{ context }}\n</context>\n"
    "If the context does not contain the answer, say so."
)


def _form_variables(model_config: dict[str, Any], ctx: DifyContext) -> list[dict[str, Any]]:
    """The form's inputs as start-node variables (``{"text-input": {...}}`` -> flat)."""
    out: list[dict[str, Any]] = []
    for entry in model_config.get("user_input_form") or []:
        if not isinstance(entry, dict) or not entry:
            continue
        kind, spec = next(iter(entry.items()))
        if not isinstance(spec, dict):
            continue
        if kind not in _FORM_TYPES:
            ctx.note(
                "warning",
                f"form input of type {kind!r} ({spec.get('variable')!r}) has no equivalent",
                "left out",
                field="model_config.user_input_form",
            )
            continue
        out.append({**spec, "type": kind})
    return out


def _simple_template(
    text: Any,
    ctx: DifyContext,
    ports: PortNames,
    inputs: dict[str, Selector],
    context: Selector | None,
    field: str,
) -> str:
    """A prompt with ``{{name}}`` form variables as our template."""
    if not isinstance(text, str):
        return ""
    pieces: list[str] = []
    last = 0
    for match in _SIMPLE_VARIABLE.finditer(text):
        name, special = match.group(1), match.group(2)
        selector: Selector | None
        if special == "context":
            selector = context
        elif special == "query":
            selector = [ctx.start_id, "query"]
        elif special == "histories":
            ctx.note(
                "info",
                "the prompt places the chat history with {{#histories#}}",
                "the history is sent as earlier messages of the conversation instead",
                field=field,
            )
            selector = None
        else:
            variable = ctx.start_variables.get(name)
            if variable is None:
                continue  # not a form variable: literal text, as in Dify
            selector = (
                ["sys", "files"] if variable.kind == "files" else [ctx.start_id, variable.port]
            )
        pieces.append(escape_jinja(text[last : match.start()]))
        last = match.end()
        if selector is not None:
            port = ports.name_for(tuple(selector), special or name)
            inputs[port] = selector
            pieces.append("{{ " + port + " }}")
    pieces.append(escape_jinja(text[last:]))
    return "".join(pieces)


def _datasets(model_config: dict[str, Any]) -> list[str]:
    configs = model_config.get("dataset_configs")
    datasets = configs.get("datasets") if isinstance(configs, dict) else None
    entries = datasets.get("datasets") if isinstance(datasets, dict) else None
    ids = []
    for entry in entries or []:
        dataset = entry.get("dataset") if isinstance(entry, dict) else None
        if isinstance(dataset, dict) and dataset.get("enabled", True) and dataset.get("id"):
            ids.append(str(dataset["id"]))
    return ids


def _node(ctx: DifyContext, node_id: str, kind: str, data: dict[str, Any], x: int) -> DifyNode:
    raw = {"id": node_id, "position": {"x": x, "y": 200}}
    node = DifyNode(node_id, node_id, kind, data, raw)
    ctx.nodes[node_id] = node
    return node


def _llm(
    model_config: dict[str, Any], ctx: DifyContext, context: Selector | None
) -> tuple[dict[str, Any], dict[str, Selector]]:
    inputs: dict[str, Selector] = {}
    ports = PortNames(reserved={"history"})
    config: dict[str, Any] = {}
    model = ctx.model(model_config.get("model"), node_id="llm")
    if model:
        config["model"] = model
    params = (
        model_config.get("model", {}).get("completion_params")
        if isinstance(model_config.get("model"), dict)
        else None
    )
    if isinstance(params, dict):
        temperature = params.get("temperature")
        if isinstance(temperature, int | float) and not isinstance(temperature, bool):
            config["temperature"] = min(2.0, max(0.0, float(temperature)))
        max_tokens = params.get("max_tokens")
        if isinstance(max_tokens, int) and max_tokens > 0:
            config["max_tokens"] = min(200_000, max_tokens)
    chat = ctx.mode != "completion"
    if model_config.get("prompt_type") == "advanced":
        system, prompt = _advanced(model_config, ctx, ports, inputs, context, chat)
    else:
        pre_prompt = _simple_template(
            model_config.get("pre_prompt"), ctx, ports, inputs, context, "model_config.pre_prompt"
        )
        if context is not None:
            inputs["context"] = context
            pre_prompt = f"{pre_prompt}\n\n{_CONTEXT_BLOCK}".strip()
        if chat:
            system, prompt = pre_prompt, "{{ " + _query(ctx, ports, inputs) + " }}"
        else:
            system, prompt = "", pre_prompt or "{{ " + _query(ctx, ports, inputs) + " }}"
    config["system_prompt"] = system
    config["prompt"] = prompt
    config["use_run_history"] = chat
    return config, inputs


def _query(ctx: DifyContext, ports: PortNames, inputs: dict[str, Selector]) -> str:
    selector: Selector = [ctx.start_id, "query"]
    port = ports.name_for(tuple(selector), "query")
    inputs[port] = selector
    return port


def _advanced(
    model_config: dict[str, Any],
    ctx: DifyContext,
    ports: PortNames,
    inputs: dict[str, Selector],
    context: Selector | None,
    chat: bool,
) -> tuple[str, str]:
    chat_config = model_config.get("chat_prompt_config")
    messages = chat_config.get("prompt") if isinstance(chat_config, dict) else None
    if not messages:
        completion = model_config.get("completion_prompt_config")
        prompt = completion.get("prompt") if isinstance(completion, dict) else None
        messages = [{"role": "user", **prompt}] if isinstance(prompt, dict) else []
    system: list[str] = []
    turns: list[str] = []
    for index, message in enumerate(m for m in messages if isinstance(m, dict)):
        text = _simple_template(
            message.get("text"), ctx, ports, inputs, context, f"model_config.prompt[{index}]"
        )
        (system if message.get("role") == "system" else turns).append(text)
    if len(turns) > 1:
        ctx.note(
            "warning",
            f"{len(turns)} user/assistant messages in the prompt",
            "joined into one user turn",
            field="model_config.chat_prompt_config",
        )
    prompt = "\n\n".join(turns)
    if not prompt:
        prompt = "{{ " + _query(ctx, ports, inputs) + " }}" if chat else "\n\n".join(system)
        if not chat:
            system = []
    return "\n\n".join(system), prompt


def _agent_tools(model_config: dict[str, Any]) -> list[str]:
    agent = model_config.get("agent_mode")
    if not isinstance(agent, dict) or not agent.get("enabled", True):
        return []
    names = []
    for tool in agent.get("tools") or []:
        if isinstance(tool, dict) and tool.get("enabled", True):
            names.append(f"{tool.get('provider_id') or tool.get('provider_name', '?')}/"
                         f"{tool.get('tool_name', '?')}")  # fmt: skip
    return names


def convert_model_config(ctx: DifyContext, model_config: dict[str, Any]) -> dict[str, Any]:
    """The graph of a chat/agent-chat/completion app."""
    variables = _form_variables(model_config, ctx)
    start = _node(ctx, "start", "start", {"title": "Start", "variables": variables}, 80)
    ctx.start_id = "start"
    setup_start(ctx, start, [])
    nodes: list[dict[str, Any]] = finish_node(start, convert_start(start, ctx), ctx)
    chain = ["start"]
    context: Selector | None = None
    datasets = _datasets(model_config)
    if datasets:
        query: Selector = [ctx.start_id, "query"]
        variable = model_config.get("dataset_query_variable")
        if (
            ctx.mode == "completion"
            and isinstance(variable, str)
            and variable in ctx.start_variables
        ):
            query = [ctx.start_id, ctx.start_variables[variable].port]
        knowledge = _node(ctx, "knowledge", "knowledge-retrieval", {"title": "Knowledge"}, 400)
        config = {"knowledge_base_ids": [ctx.dataset(d) for d in datasets]}
        nodes += finish_node(knowledge, Built("knowledge", config, {"query": query}), ctx)
        chain.append("knowledge")
        context = ["knowledge", "documents"]
    tools = _agent_tools(model_config)
    agent = None
    if ctx.mode == "agent-chat" and tools and "agent" in ctx.options.node_types:
        data = {"title": "Agent", "agent_mode": model_config.get("agent_mode")}
        answer = _node(ctx, "llm", "agent", data, 720)
        agent = _agent(answer, ctx, *_llm(model_config, ctx, context))
    if agent is not None:
        built, query_node = agent
        if query_node is not None:
            nodes.append(query_node)
            chain.append(query_node["id"])
    elif ctx.mode == "agent-chat" and tools:
        data = {"title": "Agent", "agent_mode": model_config.get("agent_mode")}
        answer = _node(ctx, "llm", "agent", data, 720)
        built = placeholder(
            answer,
            ctx,
            f"Dify agent with tools ({', '.join(tools)}) cannot run here: SnapAgent's agent "
            "node is not available on this server",
            outputs={"text": "string"},
            action="replace it with an llm node, or an agent node when the server has one",
        )
    else:
        answer = _node(ctx, "llm", "llm", {"title": "Answer"}, 720)
        config, inputs = _llm(model_config, ctx, context)
        built = Built("llm", config, inputs)
    nodes += finish_node(answer, built, ctx)
    chain.append("llm")
    end = _node(ctx, "end", "end", {"title": "End"}, 1040)
    nodes += finish_node(
        end, Built("end", {"outputs": ["answer"]}, {"answer": ["llm", "text"]}), ctx
    )
    chain.append("end")
    edges = [{"source": a, "target": b} for a, b in itertools.pairwise(chain)]
    _features(model_config, ctx)
    return {"nodes": nodes, "edges": edges}


def _agent(
    node: DifyNode, ctx: DifyContext, llm: dict[str, Any], inputs: dict[str, Selector]
) -> tuple[Built, dict[str, Any] | None] | None:
    """An agent-chat app's agent as our agent node: the LLM's settings, its system prompt as
    the instruction, the user turn as the query (a template node writes it when it is more than
    the message), the app's tools; None when its variables cannot be wired (a placeholder)."""
    agent_mode = mapping(node.data.get("agent_mode"))
    config: dict[str, Any] = {k: llm[k] for k in ("model", "temperature", "max_tokens") if k in llm}
    config["instruction"] = llm["system_prompt"]
    config["use_run_history"] = True
    used = set(template_variables(config["instruction"], "model_config.pre_prompt"))
    agent_inputs = {port: sel for port, sel in inputs.items() if port in used}
    message: Selector = [ctx.start_id, "query"]
    prompt = str(llm["prompt"])
    query_node = None
    if prompt.strip() in {"{{ " + p + " }}" for p, sel in inputs.items() if sel == message}:
        query: Selector = message
    else:
        query = ["llm__query", "text"]
        wanted = set(template_variables(prompt, "model_config.prompt"))
        reads = {p: {"selector": s} for p, s in inputs.items() if p in wanted}
        query_node = {"id": "llm__query", "type": "template", "title": "Agent (query)",
                      "config": {"template": prompt}, "inputs": reads}  # fmt: skip
    if agent_inputs.get("query", query) != query or "history" in agent_inputs:
        return None
    agent_inputs["query"] = query
    iterations = agent_mode.get("max_iteration")
    limit = get_node_settings().agent_max_iterations
    if isinstance(iterations, int) and not isinstance(iterations, bool) and iterations >= 1:
        config["max_iterations"] = min(iterations, limit)
    raw_tools = agent_mode.get("tools")
    raw_tools = raw_tools if isinstance(raw_tools, list) else []
    tools: list[dict[str, Any]] = []
    for index, tool in enumerate(raw_tools[:MAX_TOOLS]):
        dataset = mapping(tool.get("dataset")) if isinstance(tool, dict) else {}
        if isinstance(dataset.get("id"), str) and dataset.get("enabled", True):
            tools.append({"type": "knowledge", "knowledge_base_ids": [ctx.dataset(
                dataset["id"][:200])], "name": f"search_knowledge_{index + 1}"})  # fmt: skip
    plain = [t for t in raw_tools if not (isinstance(t, dict) and "dataset" in t)]
    tools += dify_tools(node, ctx, "constant", plain, "model_config.agent_mode.tools")
    config["tools"] = limit_tools(node, ctx, tools)
    strategy = str(agent_mode.get("strategy") or "function_call")[:40]
    ctx.note(
        "info",
        f"the agent-chat app's agent (strategy {strategy!r}) is a tool-calling loop",
        "it became an agent node",
        node_id=node.id,
    )
    return Built("agent", config, agent_inputs, outputs={"text": "text"}), query_node


_FEATURES = {
    "opening_statement": "the opening statement",
    "suggested_questions": "suggested questions",
    "suggested_questions_after_answer": "follow-up question suggestions",
    "speech_to_text": "speech to text",
    "text_to_speech": "text to speech",
    "sensitive_word_avoidance": "content moderation",
    "more_like_this": "'more like this'",
    "annotation_reply": "annotation replies",
    "file_upload": "file upload settings",
    "external_data_tools": "external data tools",
}


def _features(config: dict[str, Any], ctx: DifyContext, prefix: str = "model_config") -> None:
    report_features(config, ctx, prefix)


def report_features(config: dict[str, Any], ctx: DifyContext, prefix: str) -> None:
    """Report every enabled app feature (they have no equivalent here)."""
    for key, label in _FEATURES.items():
        value = config.get(key)
        enabled = (
            bool(value.get("enabled"))
            if isinstance(value, dict)
            else bool(value) and value not in ([], "")
        )
        if key == "file_upload" and isinstance(value, dict):
            image = value.get("image")
            enabled = enabled or (isinstance(image, dict) and bool(image.get("enabled")))
        if enabled:
            ctx.note(
                "info",
                f"{label} is a chat-window feature with no equivalent here",
                "not carried over",
                field=f"{prefix}.{key}",
            )
