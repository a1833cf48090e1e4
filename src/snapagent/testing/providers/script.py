"""What a fake provider server should answer next, and what it received.

Tests queue replies (``server.enqueue(Reply("Hi"), ErrorReply(429, retry_after=2))``); each
request takes the next one, and the server's ``default_reply`` answers when the queue is empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ErrorReply", "HangReply", "MalformedReply", "RecordedRequest", "Reply", "ScriptedReply"]


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer. Streamed as ``chunks`` (default: the text split after each word).

    ``finish`` is "stop" or "length"; each server renders it in its own vocabulary.
    ``fail_after`` breaks a stream after that many chunks (an error event where the protocol
    has one, else a dropped connection) to test "no retry after the first chunk".
    """

    text: str = "Hello from the fake server."
    chunks: tuple[str, ...] | None = None
    input_tokens: int = 11
    output_tokens: int | None = None
    finish: str = "stop"
    delay: float = 0.0
    chunk_delay: float = 0.0
    fail_after: int | None = None

    def stream_chunks(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        words = self.text.split(" ")
        return [w + " " for w in words[:-1]] + [words[-1]]

    @property
    def completion_tokens(self) -> int:
        return self.output_tokens if self.output_tokens is not None else len(self.stream_chunks())


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
