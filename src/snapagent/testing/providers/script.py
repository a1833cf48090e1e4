"""What a fake provider server should answer next, and what it received.

Tests queue replies (``server.enqueue(Reply("Hi"), ErrorReply(429, retry_after=2))``); each
request takes the next one, and the server's ``default_reply`` answers when the queue is empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ErrorReply",
    "HangReply",
    "MalformedReply",
    "RecordedRequest",
    "Reply",
    "ScriptedReply",
    "ToolUse",
]


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call in a scripted reply; each server renders it in its own protocol
    (Anthropic ``tool_use`` block, OpenAI ``tool_calls``, Bedrock ``toolUse``). Streamed, the
    arguments arrive as ``argument_pieces`` fragments of their JSON."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    argument_pieces: int = 3

    def call_id(self, position: int) -> str:
        return self.id or f"call_{position}"

    def argument_fragments(self) -> list[str]:
        raw = json.dumps(self.arguments)
        size = max(1, -(-len(raw) // max(1, self.argument_pieces)))
        return [raw[i : i + size] for i in range(0, len(raw), size)]


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer. Streamed as ``chunks`` (default: the text split after each word).

    ``finish`` is "stop" or "length"; each server renders it in its own vocabulary.
    ``fail_after`` breaks a stream after that many chunks (an error event where the protocol
    has one, else a dropped connection) to test "no retry after the first chunk".
    ``tool_calls`` makes it a tool-use answer (the finish reason becomes the protocol's
    tool-use reason); ``Reply("", tool_calls=(ToolUse("get_weather", {"city": "Paris"}),))``.
    """

    text: str = "Hello from the fake server."
    chunks: tuple[str, ...] | None = None
    input_tokens: int = 11
    output_tokens: int | None = None
    finish: str = "stop"
    delay: float = 0.0
    chunk_delay: float = 0.0
    fail_after: int | None = None
    tool_calls: tuple[ToolUse, ...] = ()

    def stream_chunks(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        if not self.text and self.tool_calls:
            return []
        words = self.text.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]

    @property
    def completion_tokens(self) -> int:
        if self.output_tokens is not None:
            return self.output_tokens
        return len(self.stream_chunks()) + len(self.tool_calls)


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An HTTP error: ``status`` with a provider-shaped error body and optional Retry-After."""

    status: int
    message: str = "scripted failure"
    retry_after: float | None = None
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class MalformedReply:
    """A 200 whose body the SDK cannot use."""

    body: str = "<html>this is not json</html>"
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class HangReply:
    """Hold the request open without answering (until the client gives up or disconnects)."""

    seconds: float = 600.0


ScriptedReply = Reply | ErrorReply | MalformedReply | HangReply


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server received it (headers lower-cased)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)
