"""What the nodes that ask a model for a decision share (``question_classifier``,
``parameter_extractor``): the model settings, the ports, and one structured-output call.

Their ``instruction`` is a Jinja2 template like the LLM node's prompts: every variable it reads
is an input port, beside the required ``query``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from snapagent.nodes.templating import render, template_variables
from snapagent.workflow.node import RunContext
from snapagent.workflow.schema import PortDefinition
from snapagent.workflow.services import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResult,
    StructuredOutput,
)
from snapagent.workflow.system_names import DEFAULT_MODEL
from snapagent.workflow.types import PortType

__all__ = ["QUERY_PORT", "ModelSettings", "ask_structured", "decision_inputs", "resolve_model"]

QUERY_PORT = "query"


class ModelSettings(BaseModel):
    """The model fields of a decision node's config."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None,
        description="Chat model id (offline, anthropic:<model>, openai:<model>, "
        "bedrock:<model id>); empty: the bot's default model.",
    )
    instruction: str = Field(
        default="",
        max_length=20_000,
        description="Extra guidance for the model (Jinja2); its variables become input ports.",
    )
    temperature: float | None = Field(
        default=None, ge=0.0, le=2.0, description="Sampling temperature (empty: the model's)."
    )


def decision_inputs(settings: ModelSettings) -> tuple[PortDefinition, ...]:
    """``query`` (the text to decide on) and the instruction's variables."""
    names = [
        n for n in template_variables(settings.instruction, "config.instruction") if n != QUERY_PORT
    ]
    query = PortDefinition(name=QUERY_PORT, type=PortType.STRING, description="the text")
    return (query, *(PortDefinition(name=n) for n in names))


def resolve_model(ctx: RunContext, model_id: str | None) -> ChatModel:
    """The node's model, else the bot's default (``sys.default_model``), else the default."""
    return ctx.services.chat_models.resolve(model_id or ctx.sys.get(DEFAULT_MODEL))


async def ask_structured(
    settings: ModelSettings,
    ctx: RunContext,
    inputs: dict[str, Any],
    *,
    node_id: str,
    task: str,
    prompt: str,
    output: StructuredOutput,
) -> ChatResult:
    """One model call asking for ``output``: ``task`` (what the node does) and the rendered
    instruction as the system prompt, ``prompt`` as the user turn, the query as the hint."""
    instruction = (await render(ctx, settings.instruction, inputs, node_id=node_id)).strip()
    system = f"{task}\n\n{instruction}" if instruction else task
    query = inputs.get(QUERY_PORT)
    request = ChatRequest(
        messages=[ChatMessage("user", prompt)],
        system=system,
        temperature=settings.temperature,
        query=query if isinstance(query, str) else None,
        response_format=output,
    )
    return await resolve_model(ctx, settings.model).complete(request)
