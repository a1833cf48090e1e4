"""Conversation variables: values a graph keeps per chat session, across turns.

A graph declares them (``"conversation_variables": [{"name": "language", "type": "string",
"default": "en"}]``); nodes read them by selector ``["conversation", "language"]`` and the
``variable_assigner`` node writes them. Each run starts from the values stored with its session
(the defaults for a new one), and its result carries the values after the run and every write,
for the caller to store::

    result = await executor.run(graph, inputs, sys, conversation=stored_values)
    store(result.conversation)          # only what the graph declares, of the declared types
    result.conversation_writes          # [{"node_id", "variable", "operation", "value"}, ...]

A node reads a variable as it is when the node starts: one that must see a write runs after
the assigner (an edge or a selector on it).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from snapagent.workflow.types import PortType
from snapagent.workflow.values import coerce_value

__all__ = ["CONVERSATION_NODE_ID", "ConversationState", "ConversationVariable"]

CONVERSATION_NODE_ID = "conversation"
"""Selectors starting with this id read conversation variables."""


class ConversationVariable(BaseModel):
    """One declared variable: ``{"name": "language", "type": "string", "default": "en"}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[^\W\d]\w*$",
        max_length=64,
        description="Its name, read by selector ['conversation', name].",
    )
    type: PortType = Field(default=PortType.ANY, description="The type its values must have.")
    default: Any = Field(default=None, description="Its value in a new session.")
    description: str = Field(default="", max_length=2_000, description="What it holds.")


class ConversationState:
    """The variables of one run: declared, current values, and the writes made."""

    def __init__(
        self, declared: Sequence[ConversationVariable], stored: Mapping[str, Any] | None = None
    ) -> None:
        self.declared = {v.name: v for v in declared}
        self.values: dict[str, Any] = {}
        self.writes: list[dict[str, Any]] = []
        stored = stored or {}
        for variable in declared:
            value = stored.get(variable.name, variable.default)
            try:
                value = coerce_value(variable.type, value) if value is not None else None
            except ValueError:
                # Stored under an older declaration of another type: start again from the default.
                value = variable.default
            self.values[variable.name] = copy.deepcopy(value)

    def write(self, node_id: str, name: str, operation: str, value: Any) -> None:
        """Set ``name`` (already checked against its type by the writer) and log the write."""
        self.values[name] = value
        self.writes.append(
            {"node_id": node_id, "variable": name, "operation": operation, "value": value}
        )

    def snapshot(self) -> dict[str, Any]:
        """The values now, as a copy the caller may keep."""
        return copy.deepcopy(self.values)
