"""`AnswerNodeV2`: render a template and stream it to the chat, mid-flow.

    {"id": "ack", "type": "answer", "config": {"answer": "Looking up {{ topic }}..."},
     "inputs": {"topic": {"selector": ["start", "query"]}}}

Several answer nodes may speak in one run; they speak in graph order (an upstream one first,
then by position in the node list), never interleaved, and while a graph has answer nodes only
they stream (see `snapagent.workflow.stream_order`). The chat's answer is the end node's
``answer`` input, or - when nothing is wired there - everything the answer nodes said, in order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from snapagent.nodes.templating import render, template_variables
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType

__all__ = ["AnswerNodeData", "AnswerNodeV2"]

_PIECE = re.compile(r"\S+\s*|\s+")
_PIECE_CHARS = 32  # streamed in word-aligned pieces of about this many characters


class AnswerNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answer: str = Field(
        max_length=100_000,
        description="What to say (Jinja2); every variable it reads becomes an input port.",
    )


def pieces(text: str) -> list[str]:
    """Word-aligned pieces of about `_PIECE_CHARS` characters (newlines end a piece)."""
    out: list[str] = []
    current = ""
    for word in _PIECE.findall(text):
        current += word
        if len(current) >= _PIECE_CHARS or "\n" in word:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


class AnswerNodeV2(BaseNodeV2[AnswerNodeData]):
    """Streams its rendered template to the chat; outputs it as ``text``."""

    type_key = "answer"
    config_model = AnswerNodeData
    title = "Answer"
    category = "io"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {"answer": "{{ text }}"}
    description = "Stream text to the chat mid-flow; several speak in graph order."
    streams_answer: ClassVar[bool] = True

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            inputs=tuple(
                PortDefinition(name=n)
                for n in template_variables(self.config.answer, field="config.answer")
            ),
            outputs=(PortDefinition(name="text", type=PortType.STRING),),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        text = await render(ctx, self.config.answer, inputs, node_id=self.node_id)
        for piece in pieces(text):
            ctx.emit_text(self.node_id, piece)
        return {"text": text}
