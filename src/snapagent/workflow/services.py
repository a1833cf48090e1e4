"""What nodes may use while they run: the small service interfaces and `ServiceContainer`.

The engine never talks to a model provider, a database or the clock directly; nodes receive a
`ServiceContainer` and go through these interfaces. Real implementations live in
`snapagent.llm` and `snapagent.knowledge`; scripted fakes live in `snapagent.testing`.

    services = ServiceContainer(chat_models=registry, retriever=retriever)
    model = services.chat_models.resolve("offline")
    docs = await services.retriever.retrieve(RetrievalQuery("q", ["kb1"], owner_id="u1"))
    result = await model.complete(ChatRequest(messages=[ChatMessage("user", "hi")]))

Tool calling and structured output are part of the same two calls, on every provider through
its native API (Anthropic tool use, OpenAI tools and ``response_format``, Bedrock Converse
``toolConfig``). A tool-calling loop needs nothing else::

    weather = ToolSpec("get_weather", "Current weather of a city",
                       {"type": "object", "properties": {"city": {"type": "string"}}})
    messages = [ChatMessage("user", "Weather in Paris?")]
    while True:
        result = await model.complete(ChatRequest(messages=messages, tools=(weather,)))
        if not result.tool_calls:
            break                                   # result.text is the answer
        messages.append(result.as_message())        # the assistant turn that asked
        for call in result.tool_calls:              # every call answered, in order
            messages.append(ChatMessage.tool_result(call.id, run_tool(call)))

    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    result = await model.complete(ChatRequest(messages=..., response_format=
                                              StructuredOutput("place", schema)))
    result.data    # {"city": "Paris"}, or None when the answer was not a JSON object
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "BotAnswer",
    "BotCall",
    "BotRunner",
    "ChatChunk",
    "ChatMessage",
    "ChatModel",
    "ChatModelProvider",
    "ChatRequest",
    "ChatResult",
    "Clock",
    "CodeRunner",
    "DocumentReader",
    "FileText",
    "RetrievalQuery",
    "RetrievedDocument",
    "Retriever",
    "ServiceContainer",
    "StructuredOutput",
    "SystemClock",
    "TemplateRenderer",
    "TokenUsage",
    "ToolCall",
    "ToolChoice",
    "ToolSpec",
]

Role = Literal["system", "user", "assistant", "tool"]
RetrievalMode = Literal["hybrid", "vector", "keyword"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool a model may call: a name (letters, digits, ``_``, ``-``; at most 64), what it
    does, and a JSON Schema (an ``object``) of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A model's request to call ``name`` with ``arguments``; ``id`` pairs it with its result."""

    id: str
    name: str
    arguments: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": dict(self.arguments)}


ToolChoiceMode = Literal["auto", "required", "none", "tool"]


@dataclass(frozen=True, slots=True)
class ToolChoice:
    """Whether the model must call a tool: ``auto`` (its choice, the default), ``required``
    (some tool), ``none`` (answer in text), or ``tool`` (the one named ``name``)."""

    mode: ToolChoiceMode = "auto"
    name: str | None = None

    @classmethod
    def tool(cls, name: str) -> ToolChoice:
        return cls("tool", name)


@dataclass(frozen=True, slots=True)
class StructuredOutput:
    """Ask for a JSON object matching ``schema`` instead of prose (provider-native: OpenAI
    ``response_format`` json_schema, a forced tool call on Anthropic and Bedrock)."""

    name: str
    schema: Mapping[str, Any]
    description: str = ""


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation.

    Besides plain ``system``/``user``/``assistant`` text, an ``assistant`` turn may carry the
    ``tool_calls`` it made, and a ``tool`` turn is the result of one call (``tool_call_id``;
    ``is_error`` when the tool failed - the model is told, the run goes on).
    """

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False

    @classmethod
    def tool_result(cls, call_id: str, content: str, *, is_error: bool = False) -> ChatMessage:
        return cls("tool", content, tool_call_id=call_id, is_error=is_error)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
            data["is_error"] = self.is_error
        return data


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

    `messages` holds the history followed by the current user turn (or, in a tool loop, the
    latest tool results); `system` is separate because every provider treats it separately.
    `tools` the model may call (`tool_choice` says whether it must); `response_format` asks
    for a JSON object instead of prose (`ChatResult.data`).
    """

    messages: Sequence[ChatMessage]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: Sequence[str] = ()
    documents: Sequence[RetrievedDocument] = ()
    query: str | None = None
    tools: Sequence[ToolSpec] = ()
    tool_choice: ToolChoice | None = None
    response_format: StructuredOutput | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The complete answer of a model call.

    ``finish_reason`` is ``stop``, ``length`` or ``tool_calls`` (then ``tool_calls`` lists
    what to run). ``data`` is the JSON object asked for with ``response_format`` (None when the
    model did not produce one; ``text`` then holds what it said instead).
    """

    text: str
    model: str
    finish_reason: str | None = None
    usage: TokenUsage = TokenUsage()
    tool_calls: tuple[ToolCall, ...] = ()
    data: Mapping[str, Any] | None = None

    def as_message(self) -> ChatMessage:
        """This answer as the assistant turn of a conversation (tool calls included)."""
        return ChatMessage("assistant", self.text, tool_calls=self.tool_calls)


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """A streamed piece of an answer. The last chunk carries `finish_reason` and `usage`, and
    the complete `tool_calls` and structured `data` when there are any."""

    text: str = ""
    finish_reason: str | None = None
    usage: TokenUsage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    data: Mapping[str, Any] | None = None


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
    """One retrieval. ``owner_id`` is required: a retriever searches only the knowledge bases
    of that owner (the bot owner's on the request path), whatever ``knowledge_base_ids`` say.

    >>> RetrievalQuery("refund policy", ["kb1"], owner_id="u1").top_k
    4
    """

    query: str
    knowledge_base_ids: Sequence[str]
    top_k: int = 4
    score_threshold: float | None = None
    mode: RetrievalMode = "hybrid"
    document_ids: Sequence[str] | None = None
    owner_id: str = field(kw_only=True)


class Retriever(Protocol):
    """Finds the chunks most relevant to a query among the knowledge bases it names that
    belong to ``query.owner_id`` (others contribute nothing)."""

    async def retrieve(self, query: RetrievalQuery) -> list[RetrievedDocument]: ...


class CodeRunner(Protocol):
    """Runs user code in a sandbox (`snapagent.sandbox.CodeSandbox`): ``main(**inputs)``."""

    async def execute(
        self, language: str, code: str, inputs: Mapping[str, Any], *, timeout_s: float
    ) -> Any: ...


class TemplateRenderer(Protocol):
    """Renders a node's Jinja2 template over its values, with a deadline and size bounds
    (`snapagent.nodes.templating.TemplateRenderer`)."""

    async def render(self, source: str, values: Mapping[str, Any], *, node_id: str) -> str: ...


@dataclass(frozen=True, slots=True)
class FileText:
    """The text of one file: its name, the title found in it, and its text."""

    name: str
    title: str
    text: str


class DocumentReader(Protocol):
    """Reads a file's text (PDF, DOCX, HTML, Markdown, plain text). Implementations parse
    outside the server process, with limits: files come from users."""

    async def read(self, data: bytes, name: str, content_type: str | None = None) -> FileText: ...


@dataclass(frozen=True, slots=True)
class BotCall:
    """Run published bot ``bot_id`` on ``query`` for ``owner_id`` (an agent's workflow tool).

    ``depth`` is how many bot calls deep this one is: an agent in a chat turn calls at depth 1,
    an agent inside that bot's run at depth 2... The runner passes it on to the nested run as
    ``sys.call_depth``, so bots calling each other stop at the operator's limit.
    """

    bot_id: str
    query: str
    owner_id: str = field(kw_only=True)
    depth: int = field(default=1, kw_only=True)
    caller_run_id: str | None = field(default=None, kw_only=True)
    timeout_s: float | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class BotAnswer:
    """What the nested run answered, its run id (recorded like any run) and its tokens."""

    text: str
    run_id: str | None = None
    usage: TokenUsage = TokenUsage()


class BotRunner(Protocol):
    """Runs another published bot of the same owner as a nested turn.

    Implementations (the services layer's) answer a bot that does not exist, belongs to another
    owner or has nothing published with `NotFoundError`, refuse ``depth`` past their limit, and
    record the nested run like any other.
    """

    async def run_bot(self, call: BotCall) -> BotAnswer: ...


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


class _NoDocumentReader:
    async def read(self, data: bytes, name: str, content_type: str | None = None) -> FileText:
        from snapagent.errors import DefinitionError

        raise DefinitionError(f"no document reader is configured (asked to read {name!r})")


class _NoBotRunner:
    async def run_bot(self, call: BotCall) -> BotAnswer:
        from snapagent.errors import DefinitionError

        raise DefinitionError(
            f"bots cannot be called here (no bot runner is configured; asked for {call.bot_id!r})"
        )


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
    templates: TemplateRenderer | None = None
    """None: the process-wide renderer from ``SNAPAGENT_TEMPLATE_*`` (workers on first use)."""

    documents: DocumentReader = field(default_factory=_NoDocumentReader)
    bots: BotRunner = field(default_factory=_NoBotRunner)
    """Runs other published bots (the agent's workflow tools); none outside a server."""

    def replace(self, **changes: Any) -> ServiceContainer:
        return dataclasses.replace(self, **changes)
