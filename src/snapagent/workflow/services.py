"""What nodes may use while they run: the small service interfaces and `ServiceContainer`.

The engine never talks to a model provider, a database or the clock directly; nodes receive a
`ServiceContainer` and go through these interfaces. Real implementations live in
`snapagent.llm` and `snapagent.knowledge`; scripted fakes live in `snapagent.testing`.

    services = ServiceContainer(chat_models=registry, retriever=retriever)
    model = services.chat_models.resolve("offline")
    result = await model.complete(ChatRequest(messages=[ChatMessage("user", "hi")]))
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "ChatChunk",
    "ChatMessage",
    "ChatModel",
    "ChatModelProvider",
    "ChatRequest",
    "ChatResult",
    "Clock",
    "CodeRunner",
    "RetrievalQuery",
    "RetrievedDocument",
    "Retriever",
    "ServiceContainer",
    "SystemClock",
    "TokenUsage",
]

Role = Literal["system", "user", "assistant"]
RetrievalMode = Literal["hybrid", "vector", "keyword"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens consumed by one model call (or a sum of calls)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class RetrievedDocument:
    """One retrieved chunk with everything a citation needs."""

    text: str
    score: float
    document_id: str
    document_title: str
    knowledge_base_id: str
    chunk_id: str = ""
    chunk_index: int = 0
    heading: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape stored in the variable pool (port type `documents`)."""
        data = dataclasses.asdict(self)
        data["metadata"] = dict(self.metadata)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RetrievedDocument:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A model call. `documents` and `query` are hints an extractive model may use.

    `messages` holds the history followed by the current user turn; `system` is separate
    because every provider treats it separately.
    """

    messages: Sequence[ChatMessage]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: Sequence[str] = ()
    documents: Sequence[RetrievedDocument] = ()
    query: str | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The complete answer of a model call."""

    text: str
    model: str
    finish_reason: str | None = None
    usage: TokenUsage = TokenUsage()


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """A streamed piece of an answer. The last chunk carries `finish_reason` and `usage`."""

    text: str = ""
    finish_reason: str | None = None
    usage: TokenUsage | None = None


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: one id, a complete call and a streaming call."""

    @property
    def model_id(self) -> str: ...

    async def complete(self, request: ChatRequest) -> ChatResult: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...


class ChatModelProvider(Protocol):
    """Resolves a model id (or None for the default) to a chat model."""

    def resolve(self, model_id: str | None) -> ChatModel: ...


@dataclass(frozen=True, slots=True)
class RetrievalQuery:
    query: str
    knowledge_base_ids: Sequence[str]
    top_k: int = 4
    score_threshold: float | None = None
    mode: RetrievalMode = "hybrid"
    document_ids: Sequence[str] | None = None


class Retriever(Protocol):
    """Finds the chunks of the given knowledge bases most relevant to a query."""

    async def retrieve(self, query: RetrievalQuery) -> list[RetrievedDocument]: ...


class CodeRunner(Protocol):
    """Runs user code in a sandbox (`snapagent.sandbox.CodeSandbox`): ``main(**inputs)``."""

    async def execute(
        self, language: str, code: str, inputs: Mapping[str, Any], *, timeout_s: float
    ) -> Any: ...


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class _NoRetriever:
    async def retrieve(self, query: RetrievalQuery) -> list[RetrievedDocument]:
        return []


class _NoChatModels:
    def resolve(self, model_id: str | None) -> ChatModel:
        from snapagent.errors import DefinitionError

        raise DefinitionError(f"no chat model provider is configured (asked for {model_id!r})")


@dataclass(frozen=True, slots=True)
class ServiceContainer:
    """The services a node may use. Every field is replaceable (`dataclasses.replace`)."""

    chat_models: ChatModelProvider = field(default_factory=_NoChatModels)
    retriever: Retriever = field(default_factory=_NoRetriever)
    clock: Clock = field(default_factory=SystemClock)
    settings: Mapping[str, Any] = field(default_factory=dict)
    code_runner: CodeRunner | None = None
    """None: the process-wide sandbox from ``SNAPAGENT_CODE_*`` (started on first use)."""

    def replace(self, **changes: Any) -> ServiceContainer:
        return dataclasses.replace(self, **changes)
