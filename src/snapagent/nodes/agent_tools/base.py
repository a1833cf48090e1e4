"""What every agent tool is: a `ToolSpec` the model sees and a `call` that answers it.

A tool answers with a `ToolOutcome` (text for the model, whether it is an error, documents it
found) or raises `ToolError` with a message the model should read. Anything else it raises is
turned into an error result by the toolbox too: a failing tool never fails the run.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from snapagent.workflow.node import RunContext
from snapagent.workflow.services import ToolSpec

__all__ = ["AgentTool", "ToolEnv", "ToolError", "ToolOutcome"]


class ToolError(Exception):
    """A tool call that failed in a way the model should be told about (its message is the
    error result)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """A tool's answer: the text the model reads, whether it is an error, and the retrieved
    documents (`RetrievedDocument.to_dict()` form) a knowledge tool found."""

    content: str
    is_error: bool = False
    documents: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ToolEnv:
    """What the tools of one agent run may use: the run context, the node's id and input
    values (header templates read them), the per-call time limit and the bot-call depth."""

    ctx: RunContext
    node_id: str
    values: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float = 30.0
    depth: int = 0
    """How many bot calls deep this agent runs (0 in a chat turn)."""


class AgentTool(abc.ABC):
    """One tool by the name the model sees (``spec.name``)."""

    kind: ClassVar[str]
    """``http``, ``mcp``, ``knowledge`` or ``workflow`` (recorded with every call)."""

    def __init__(self, spec: ToolSpec, timeout_s: float) -> None:
        self.spec = spec
        self.timeout_s = timeout_s

    @property
    def check_arguments(self) -> bool:
        """Whether the toolbox checks the model's arguments against ``spec.parameters``
        before calling (False when the other side validates them itself)."""
        return True

    @abc.abstractmethod
    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        """Answer one call; raise `ToolError` for a failure the model should read."""
