"""`LLMNodeV2`: render the prompts, call the chat model, stream the text out.

    {"id": "llm", "type": "llm",
     "config": {"model": "offline", "system_prompt": "Answer from the context.",
                "prompt": "Context:\\n{{ context }}\\n\\nQuestion: {{ query }}",
                "temperature": 0.2, "max_tokens": 512}}

Input ports are the variables of the two templates (rendered in a sandboxed Jinja2
environment; values are substituted, never rendered again) plus ``history``. The request
carries the history, the rendered prompt as the user turn, every documents-valued input as
`RetrievedDocument`s and the ``query`` input. Text is re-emitted chunk by chunk as it streams.
The model is ``config.model``, else ``sys.default_model`` (the bot's), else the provider's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.errors import NodeExecutionError
from snapagent.nodes.model_calls import resolve_model
from snapagent.nodes.templating import looks_like_documents, render, template_variables
from snapagent.workflow.node import BaseNodeV2, NodeResult, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.services import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    RetrievedDocument,
    StructuredOutput,
    TokenUsage,
)
from snapagent.workflow.types import PortType

__all__ = ["HISTORY_PORT", "LLMNodeData", "LLMNodeV2", "history_messages"]

HISTORY_PORT = "history"
STRUCTURED_OUTPUT = "structured_output"


def history_messages(history: Any, node_id: str) -> list[ChatMessage]:
    """A ``messages`` value (``[{"role", "content"}]``) as chat turns; a malformed one fails
    the node, naming the bad item."""
    if not history:
        return []
    if not isinstance(history, list):
        raise NodeExecutionError(
            f"node {node_id!r}: history must be a list of messages", node_id=node_id
        )
    messages = []
    for position, item in enumerate(history):
        role = item.get("role") if isinstance(item, Mapping) else None
        content = item.get("content") if isinstance(item, Mapping) else None
        if role not in ("user", "assistant", "system") or not isinstance(content, str):
            raise NodeExecutionError(
                f"node {node_id!r}: history[{position}] must be "
                '{"role": "user"|"assistant"|"system", "content": text}',
                node_id=node_id,
            )
        messages.append(ChatMessage(role, content))
    return messages


class LLMNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None,
        description="Chat model id (offline, anthropic:<model>, openai:<model>, "
        "bedrock:<model id>); empty: the bot's default model.",
    )
    system_prompt: str = Field(
        default="", max_length=100_000, description="System prompt (Jinja2 over the inputs)."
    )
    prompt: str = Field(
        default="{{ query }}",
        max_length=100_000,
        description="The user turn (Jinja2); every variable it reads becomes an input port.",
    )
    temperature: float | None = Field(
        default=None, ge=0.0, le=2.0, description="Sampling temperature (empty: the model's)."
    )
    max_tokens: int | None = Field(
        default=None, ge=1, le=200_000, description="Longest answer in tokens (empty: default)."
    )
    stop: list[str] = Field(
        default_factory=list, max_length=16, description="Stop generating at any of these."
    )
    use_run_history: bool = Field(
        default=True,
        description="With no history input wired, send the chat so far as history.",
    )
    structured_output: dict[str, Any] | None = Field(
        default=None,
        description="A JSON Schema (an object): the model answers with such an object, through "
        "the provider's native structured output; it is the structured_output output.",
    )

    @field_validator("structured_output")
    @classmethod
    def _object_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None and schema.get("type", "object") != "object":
            raise ValueError("structured_output must be the JSON Schema of an object")
        return schema


class LLMNodeV2(BaseNodeV2[LLMNodeData]):
    """Calls a chat model with rendered prompts; outputs ``text`` and ``usage``."""

    type_key = "llm"
    config_model = LLMNodeData
    title = "LLM"
    category = "model"
    dynamic_ports = True
    description = "Ask a chat model; prompts are Jinja2 templates over the inputs."

    def port_schema(self) -> NodePortSchema:
        names = set(template_variables(self.config.system_prompt, "config.system_prompt"))
        names |= set(template_variables(self.config.prompt, "config.prompt"))
        names.discard(HISTORY_PORT)
        inputs = [PortDefinition(name=n) for n in sorted(names)]
        inputs.append(
            PortDefinition(name=HISTORY_PORT, type=PortType.MESSAGES, required=False, default=None)
        )
        outputs = [
            PortDefinition(name="text", type=PortType.STRING),
            PortDefinition(name="usage", type=PortType.OBJECT),
        ]
        if self.config.structured_output is not None:
            outputs.append(PortDefinition(name=STRUCTURED_OUTPUT, type=PortType.OBJECT))
        return NodePortSchema(inputs=tuple(inputs), outputs=tuple(outputs))

    async def build_request(self, inputs: Mapping[str, Any], ctx: RunContext) -> ChatRequest:
        config = self.config
        values = {k: v for k, v in inputs.items() if k != HISTORY_PORT or v is not None}
        system = await render(ctx, config.system_prompt, values, node_id=self.node_id)
        prompt = await render(ctx, config.prompt, values, node_id=self.node_id)
        history = inputs.get(HISTORY_PORT)
        if history is None and config.use_run_history:
            history = ctx.inputs.get("history")
        documents = [
            RetrievedDocument.from_dict(doc)
            for value in values.values()
            if looks_like_documents(value)
            for doc in value
        ]
        query = inputs.get("query")
        return ChatRequest(
            messages=[*history_messages(history, self.node_id), ChatMessage("user", prompt)],
            system=system or None,
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            stop=tuple(config.stop),
            documents=tuple(documents),
            query=query if isinstance(query, str) else None,
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        request = await self.build_request(inputs, ctx)
        model = resolve_model(ctx, self.config.model)
        if self.config.structured_output is not None:
            return await self._structured(model, request, ctx)
        pieces: list[str] = []
        usage: TokenUsage | None = None
        async for chunk in model.stream(request):
            if chunk.text:
                pieces.append(chunk.text)
                ctx.emit_text(self.node_id, chunk.text)
            if chunk.usage is not None:
                usage = chunk.usage
        usage = usage or TokenUsage()
        return NodeResult({"text": "".join(pieces), "usage": usage.to_dict()}, usage=usage)

    async def _structured(
        self, model: ChatModel, request: ChatRequest, ctx: RunContext
    ) -> NodeResult:
        """One complete call asking for the schema's object (structured output does not
        stream); the text is emitted once, as it came."""
        schema = self.config.structured_output or {}
        wanted = StructuredOutput(STRUCTURED_OUTPUT, schema, "The answer, as this object.")
        result = await model.complete(replace(request, response_format=wanted))
        if result.data is None:
            raise NodeExecutionError(
                f"node {self.node_id!r}: the model did not answer with the structured output "
                f"({result.text[:200]!r})",
                node_id=self.node_id,
            )
        if result.text:
            ctx.emit_text(self.node_id, result.text)
        outputs = {"text": result.text, "usage": result.usage.to_dict()}
        outputs[STRUCTURED_OUTPUT] = dict(result.data)
        return NodeResult(outputs, usage=result.usage)
