"""Nodes that call a model or retrieve: llm, question-classifier, parameter-extractor,
knowledge-retrieval.

Dify's LLM node sends a list of messages; ours a system prompt and one user turn (with the
chat history before it when the node has memory). System messages become the system prompt,
the last user message the prompt; earlier example turns are kept in the system prompt
(reported). Memory (chat apps) becomes ``use_run_history``.
"""

from __future__ import annotations

from typing import Any

from snapagent.interop.dify.building import Built
from snapagent.interop.dify.context import DifyContext, DifyNode
from snapagent.interop.dify.jinja import jinja_template
from snapagent.interop.dify.references import Selector
from snapagent.interop.names import PortNames, unique_identifiers

__all__ = [
    "convert_knowledge",
    "convert_llm",
    "convert_parameter_extractor",
    "convert_question_classifier",
]

_CHAT_MODES = frozenset({"advanced-chat", "chat", "agent-chat"})
_PARAMETER_TYPES = {
    "string": "string",
    "select": "string",
    "number": "number",
    "integer": "integer",
    "bool": "boolean",
    "boolean": "boolean",
    "object": "object",
    "array[string]": "array[string]",
    "array[number]": "array[number]",
    "array[object]": "array[object]",
}


def _completion_params(
    raw: Any, config: dict[str, Any], ctx: DifyContext, node_id: str, *, max_tokens: bool = True
) -> None:
    params = raw.get("completion_params") if isinstance(raw, dict) else None
    if not isinstance(params, dict):
        return
    dropped = []
    for key, value in params.items():
        if key == "temperature" and isinstance(value, int | float) and not isinstance(value, bool):
            config["temperature"] = min(2.0, max(0.0, float(value)))
        elif key == "max_tokens" and max_tokens and isinstance(value, int) and value > 0:
            config["max_tokens"] = min(200_000, value)
        elif key == "stop" and max_tokens and isinstance(value, list):
            config["stop"] = [str(s) for s in value if s][:16]
        elif value not in (None, "", [], {}):
            dropped.append(key)
    if dropped:
        ctx.note(
            "info",
            f"model parameters {', '.join(sorted(dropped))} have no setting here",
            "the model's defaults apply",
            node_id=node_id,
            field="model.completion_params",
        )


def _vision(node: DifyNode, ctx: DifyContext) -> None:
    vision = node.data.get("vision")
    if isinstance(vision, dict) and vision.get("enabled"):
        ctx.note(
            "warning",
            "vision is not carried over: images are not sent to the model",
            "vision is off",
            node_id=node.id,
            field="vision",
        )


def _messages(data: dict[str, Any]) -> list[dict[str, Any]]:
    template = data.get("prompt_template")
    if isinstance(template, dict):  # a completion model: one text
        return [{"role": "user", **template}]
    if isinstance(template, list):
        return [m for m in template if isinstance(m, dict)]
    return []


def _message_text(
    message: dict[str, Any],
    node: DifyNode,
    ctx: DifyContext,
    ports: PortNames,
    inputs: dict[str, Selector],
    context: Selector | None,
    index: int,
) -> str:
    field = f"prompt_template[{index}]"
    if message.get("edition_type") == "jinja2":
        prompt_config = node.data.get("prompt_config")
        variables = prompt_config.get("jinja2_variables") if isinstance(prompt_config, dict) else []
        source = message.get("jinja2_text") or message.get("text") or ""
        return jinja_template(
            source, variables, ctx, ports, inputs, node_id=node.id, field=f"{field}.jinja2_text"
        )
    return ctx.template(
        message.get("text", ""),
        node_id=node.id,
        field=f"{field}.text",
        ports=ports,
        inputs=inputs,
        context=context,
    )


def _query_port(ctx: DifyContext, ports: PortNames, inputs: dict[str, Selector]) -> str:
    selector: Selector = [ctx.start_id, "query"]
    port = ports.name_for(tuple(selector), "query")
    inputs[port] = selector
    return port


def convert_llm(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    ports = PortNames(reserved={"history"})
    inputs: dict[str, Selector] = {}
    config: dict[str, Any] = {}
    model = ctx.model(data.get("model"), node_id=node.id)
    if model:
        config["model"] = model
    _completion_params(data.get("model"), config, ctx, node.id)
    context: Selector | None = None
    context_config = data.get("context")
    if isinstance(context_config, dict) and context_config.get("enabled"):
        context = ctx.selector(
            context_config.get("variable_selector"), node_id=node.id, field="context"
        )
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(_messages(data)):
        text = _message_text(message, node, ctx, ports, inputs, context, index)
        role = str(message.get("role") or "user")
        if role == "system":
            system.append(text)
        else:
            turns.append((role, text))
    memory = data.get("memory")
    chat = ctx.mode in _CHAT_MODES
    has_memory = chat and isinstance(memory, dict)
    query_text = ""
    if has_memory:
        assert isinstance(memory, dict)
        window = memory.get("window")
        if isinstance(window, dict) and window.get("enabled"):
            ctx.note(
                "info",
                f"memory window of {window.get('size')} messages: the node sends the chat "
                "history the session keeps",
                "use_run_history is on",
                node_id=node.id,
                field="memory.window",
            )
        template = memory.get("query_prompt_template")
        if isinstance(template, str) and template.strip():
            query_text = ctx.template(
                template,
                node_id=node.id,
                field="memory.query_prompt_template",
                ports=ports,
                inputs=inputs,
                context=context,
            )
    prompt = _prompt(node, ctx, system, turns, query_text, chat, ports, inputs)
    config["system_prompt"] = "\n\n".join(t for t in system if t)
    config["prompt"] = prompt
    config["use_run_history"] = has_memory
    _vision(node, ctx)
    schema = data.get("structured_output")
    if data.get("structured_output_enabled") and isinstance(schema, dict):
        inner = schema.get("schema", schema)
        if isinstance(inner, dict) and inner:
            config["structured_output"] = inner
    if data.get("reasoning_format") == "separated":
        ctx.note(
            "info",
            "reasoning is not separated from the answer",
            "a reasoning model's thinking stays in the text",
            node_id=node.id,
            field="reasoning_format",
        )
    return Built("llm", config, inputs)


def _prompt(
    node: DifyNode,
    ctx: DifyContext,
    system: list[str],
    turns: list[tuple[str, str]],
    query_text: str,
    chat: bool,
    ports: PortNames,
    inputs: dict[str, Selector],
) -> str:
    """The user turn (see the module docstring); may move text into ``system``."""
    if not turns:
        if query_text:
            return query_text
        if chat:
            return "{{ " + _query_port(ctx, ports, inputs) + " }}"
        if system:
            ctx.note(
                "info",
                "the prompt has only a system message",
                "it is sent as the user turn (a model needs one)",
                node_id=node.id,
                field="prompt_template",
            )
            text = "\n\n".join(system)
            system.clear()
            return text
        return "{{ " + _query_port(ctx, ports, inputs) + " }}"
    *earlier, (last_role, last_text) = turns
    if last_role != "user":
        earlier, last_text = turns, ""
        ctx.note(
            "warning",
            "the prompt ends with an assistant message (a prefill), which is not supported",
            "the whole conversation is sent as one user turn",
            node_id=node.id,
            field="prompt_template",
        )
        return "\n\n".join(f"{role.capitalize()}: {text}" for role, text in earlier)
    if earlier:
        example = "\n".join(f"{role.capitalize()}: {text}" for role, text in earlier)
        system.append(f"Example conversation:\n{example}")
        ctx.note(
            "warning",
            f"{len(earlier)} example message(s) before the last user message",
            "they are part of the system prompt, as an example conversation",
            node_id=node.id,
            field="prompt_template",
        )
    if query_text and query_text != last_text:
        ctx.note(
            "info",
            "the memory's query template is sent after the prompt's user message",
            "both are in the one user turn",
            node_id=node.id,
            field="memory.query_prompt_template",
        )
        return f"{last_text}\n\n{query_text}"
    return last_text


def convert_question_classifier(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    inputs: dict[str, Selector] = {}
    config: dict[str, Any] = {}
    model = ctx.model(data.get("model"), node_id=node.id)
    if model:
        config["model"] = model
    _completion_params(data.get("model"), config, ctx, node.id, max_tokens=False)
    query = ctx.selector(
        data.get("query_variable_selector"), node_id=node.id, field="query_variable_selector"
    )
    inputs["query"] = query or [ctx.start_id, "query"]
    raw_classes = [c for c in data.get("classes") or [] if isinstance(c, dict)]
    ids = unique_identifiers([str(c.get("id", "")) for c in raw_classes], taken=("fail",))
    handles: dict[str, str | None] = {}
    classes: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_classes):
        dify_id = str(raw.get("id", ""))
        our_id = dify_id if _class_id_ok(dify_id) else ids[dify_id]
        name = str(raw.get("name") or raw.get("text") or "").strip() or f"class {index + 1}"
        unique = name
        number = 2
        while unique.casefold() in seen:
            unique, number = f"{name} ({number})", number + 1
        seen.add(unique.casefold())
        if unique != str(raw.get("name") or "").strip():
            ctx.note(
                "info",
                f"class {index + 1} has an empty or repeated name",
                f"named {unique!r}",
                node_id=node.id,
                field=f"classes[{index}].name",
            )
        classes.append({"id": our_id, "name": unique[:500]})
        handles[dify_id] = our_id
    if not classes:
        ctx.note(
            "action",
            "the classifier has no classes",
            "one class 'other' was added: define the classes",
            node_id=node.id,
            field="classes",
        )
        classes = [{"id": "other", "name": "other"}]
    config["classes"] = classes
    ports = PortNames()
    ports.bind(tuple(inputs["query"]), "query")
    instruction = data.get("instruction") or data.get("instructions") or ""
    config["instruction"] = ctx.template(
        instruction, node_id=node.id, field="instruction", ports=ports, inputs=inputs
    )
    _memory_note(node, ctx)
    _vision(node, ctx)
    return Built("question_classifier", config, inputs, handles=handles)


def _class_id_ok(value: str) -> bool:
    return 0 < len(value) <= 64 and value != "fail" and all(c.isalnum() or c in "_-" for c in value)


def _memory_note(node: DifyNode, ctx: DifyContext) -> None:
    if isinstance(node.data.get("memory"), dict) and ctx.mode in _CHAT_MODES:
        ctx.note(
            "info",
            "memory is not used by this node type here",
            "it decides on the current text alone",
            node_id=node.id,
            field="memory",
        )


def convert_parameter_extractor(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    inputs: dict[str, Selector] = {}
    config: dict[str, Any] = {}
    model = ctx.model(data.get("model"), node_id=node.id)
    if model:
        config["model"] = model
    _completion_params(data.get("model"), config, ctx, node.id, max_tokens=False)
    query = data.get("query")
    if isinstance(query, dict):
        query = query.get("variable_selector") or query.get("value_selector")
    inputs["query"] = ctx.selector(query, node_id=node.id, field="query") or [
        ctx.start_id,
        "query",
    ]
    names = ctx.parameter_outputs(node)
    parameters: list[dict[str, Any]] = []
    outputs: dict[str, str] = {"__is_success": "is_success", "__reason": "reason"}
    for index, raw in enumerate(p for p in data.get("parameters") or [] if isinstance(p, dict)):
        name = str(raw.get("name", ""))
        kind = str(raw.get("type") or "string")
        ours = _PARAMETER_TYPES.get(kind)
        description = str(raw.get("description") or "")
        if ours is None:
            ctx.note(
                "warning",
                f"parameter {name!r} has type {kind!r}, which has no equivalent",
                "extracted as text",
                node_id=node.id,
                field=f"parameters[{index}].type",
            )
            ours = "string"
        options = raw.get("options")
        if kind == "select" and isinstance(options, list) and options:
            description = f"{description} (one of: {', '.join(str(o) for o in options)})".strip()
        parameters.append(
            {
                "name": names[name],
                "type": ours,
                "description": description[:2000],
                "required": bool(raw.get("required", False)),
            }
        )
        outputs[name] = names[name]
    if not parameters:
        ctx.note(
            "action",
            "the extractor has no parameters",
            "one text parameter 'value' was added: define the parameters",
            node_id=node.id,
            field="parameters",
        )
        parameters = [{"name": "value", "type": "string", "description": "", "required": False}]
    config["parameters"] = parameters
    ports = PortNames()
    ports.bind(tuple(inputs["query"]), "query")
    config["instruction"] = ctx.template(
        data.get("instruction") or "",
        node_id=node.id,
        field="instruction",
        ports=ports,
        inputs=inputs,
    )
    if data.get("reasoning_mode") == "prompt":
        ctx.note(
            "info",
            "reasoning mode 'prompt' is not used",
            "the provider's native structured output is used instead",
            node_id=node.id,
            field="reasoning_mode",
        )
    _memory_note(node, ctx)
    _vision(node, ctx)
    return Built("parameter_extractor", config, inputs, outputs=outputs)


def convert_knowledge(node: DifyNode, ctx: DifyContext) -> Built:
    data = node.data
    inputs: dict[str, Selector] = {}
    query = ctx.selector(
        data.get("query_variable_selector"), node_id=node.id, field="query_variable_selector"
    )
    if query is None:
        query = [ctx.start_id, "query"]
        ctx.note(
            "warning",
            "the node has no query variable",
            "it searches with the chat message",
            node_id=node.id,
            field="query_variable_selector",
        )
    inputs["query"] = query
    datasets = [str(d) for d in data.get("dataset_ids") or [] if d]
    if not datasets:
        datasets = [f"none-{node.source_id}"]
    config: dict[str, Any] = {"knowledge_base_ids": [ctx.dataset(d) for d in datasets]}
    mode = data.get("retrieval_mode")
    multiple = data.get("multiple_retrieval_config")
    if mode == "multiple" and isinstance(multiple, dict):
        top_k = multiple.get("top_k")
        if isinstance(top_k, int) and not isinstance(top_k, bool) and top_k > 0:
            config["top_k"] = min(100, top_k)
        threshold = multiple.get("score_threshold")
        enabled = multiple.get("score_threshold_enabled", threshold is not None)
        if enabled and isinstance(threshold, int | float) and threshold > 0:
            config["score_threshold"] = float(threshold)
        if (
            multiple.get("reranking_enable")
            or multiple.get("reranking_model")
            or multiple.get("weights")
        ):
            ctx.note(
                "info",
                "reranking and weight settings are not used",
                "results are ranked by SnapAgent's hybrid retrieval (keywords + vectors)",
                node_id=node.id,
                field="multiple_retrieval_config",
            )
    elif mode == "single":
        ctx.note(
            "info",
            "single retrieval mode (a model picks one dataset) has no equivalent",
            "the node searches all its knowledge bases",
            node_id=node.id,
            field="retrieval_mode",
        )
    if data.get("metadata_filtering_mode") not in (None, "", "disabled"):
        ctx.note(
            "warning",
            "metadata filtering is not carried over",
            "the node searches every document of its knowledge bases",
            node_id=node.id,
            field="metadata_filtering_mode",
        )
    if data.get("query_attachment_selector"):
        ctx.note(
            "warning",
            "searching with attached images is not supported",
            "the node searches with its text query only",
            node_id=node.id,
            field="query_attachment_selector",
        )
    return Built("knowledge", config, inputs, outputs={"result": "documents"})
