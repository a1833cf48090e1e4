"""The OpenAI-compatible API's bodies: the chat completion request, the answers, the models.

The request follows OpenAI's Chat Completions API. Parameters a bot cannot honour (several
choices, tools and function calling, structured output formats, log probabilities, audio,
predicted outputs) are refused with a 422 naming the parameter; sampling parameters
(``temperature``, ``max_tokens``, ``stop``, ``seed``...) and any other field are accepted and
ignored - the bot's workflow chooses its model and settings. ``session_id`` is our extension (the
SDKs send it with ``extra_body``); ``metadata.session_id`` does the same.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from snapagent.api.openai.settings import get_integration_settings
from snapagent.api.routes.chat import Citation
from snapagent.api.schemas.common import RequestModel

__all__ = [
    "ChatCompletion",
    "ChatCompletionRequest",
    "ChatMessageIn",
    "ContentPart",
    "ModelList",
    "ModelPublic",
    "SnapAgentExtension",
    "StreamOptions",
]

_NO_TOOLS = (
    "is not supported: a bot is a model without tool calling (its workflow decides what it "
    "does; expose tools to it in the workflow instead)"
)


_MAX_METADATA = 16
_MAX_UNSUPPORTED_ITEMS = 8  # tools, functions, modalities: refused anyway, a few show why


def _cut_parts(message: Any, limit: int) -> Any:
    """``message`` with a content list cut to one past ``limit`` parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list) and len(content) > limit:
        return {**message, "content": content[: limit + 1]}
    return message


class ContentPart(BaseModel):
    """One part of a message's content; only ``text`` parts are understood."""

    model_config = ConfigDict(extra="ignore")

    type: str = Field(
        max_length=64, description="The part's kind; only `text` parts are read, others ignored."
    )
    text: str | None = Field(default=None, description="The text of a `text` part.")


def _text_or_parts(schema: dict[str, Any]) -> None:
    """Tell clients that ``content`` may be a string (it is read as one text part)."""
    schema["anyOf"] = [{"type": "string"}, *schema.get("anyOf", [])]


class ChatMessageIn(BaseModel):
    """One message of the conversation, as OpenAI clients send it."""

    model_config = ConfigDict(extra="ignore")

    role: str = Field(max_length=32, description="system, developer, user or assistant.")
    content: list[ContentPart] | None = Field(
        default=None,
        description="Text, or a list of text parts.",
        json_schema_extra=_text_or_parts,
    )
    name: str | None = Field(default=None, max_length=256, description="Accepted, ignored.")
    tool_calls: list[Any] | None = Field(
        default=None, description="Accepted, ignored (a bot's history is its text)."
    )
    function_call: Any = Field(
        default=None, description="Accepted, ignored (deprecated by OpenAI)."
    )

    @field_validator("content", mode="before")
    @classmethod
    def _parts_bounded(cls, content: Any) -> Any:
        # Text is one text part: so a bad part is named by its place (messages[0].content[1])
        # rather than by a branch of a union.
        if isinstance(content, str):
            return [{"type": "text", "text": content}]
        if content is not None and not isinstance(content, list):
            raise ValueError("content must be text or a list of text parts")
        limit = get_integration_settings().max_content_parts
        if len(content or ()) > limit:
            raise ValueError(f"at most {limit} content parts per message")
        return content


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = Field(
        default=False, description="Send a last chunk with the turn's token usage."
    )


class ChatCompletionRequest(RequestModel):
    """``POST /v1/chat/completions``; see the module docstring for what is ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=200, description="A bot id of yours.")
    messages: list[ChatMessageIn] = Field(
        description="The conversation; the last message is the user's turn."
    )
    stream: bool = Field(default=False, description="Stream `chat.completion.chunk` events.")
    stream_options: StreamOptions | None = Field(
        default=None, description="With `stream`: whether a last chunk carries the usage."
    )
    user: str | None = Field(
        default=None,
        max_length=256,
        description="Your end user's id: conversations of different users never share a session.",
    )
    metadata: dict[str, str] | None = Field(
        default=None, description="Up to 16 pairs; `session_id` continues that session."
    )
    session_id: str | None = Field(
        default=None,
        max_length=64,
        description="SnapAgent extension: continue this session (1-64 of A-Z a-z 0-9 . _ : -).",
    )
    # Refused unless given their neutral value (see the validators).
    n: int | None = Field(
        default=None, description="Choices to generate; only 1 (a bot gives one answer)."
    )
    tools: list[Any] | None = Field(
        default=None, description="Refused unless empty: a bot does not call client tools."
    )
    tool_choice: Any = Field(
        default=None, description="Only `none` or `auto` (there are no client tools to choose)."
    )
    functions: list[Any] | None = Field(
        default=None, description="Deprecated `tools`; refused unless empty."
    )
    function_call: Any = Field(
        default=None, description="Deprecated `tool_choice`; only `none` or `auto`."
    )
    response_format: dict[str, Any] | None = Field(
        default=None, description='Only `{"type": "text"}`: a bot answers in text.'
    )
    logprobs: bool | None = Field(
        default=None, description="Only false: log probabilities are not available."
    )
    top_logprobs: int | None = Field(default=None, description="Refused unless null.")
    audio: Any = Field(default=None, description="Refused unless null: a bot answers in text.")
    modalities: list[str] | None = Field(default=None, description='Only `["text"]`.')
    prediction: Any = Field(default=None, description="Refused unless null (predicted outputs).")

    @model_validator(mode="before")
    @classmethod
    def _cut_to_the_limits(cls, data: Any) -> Any:
        """Arrays and maps longer than their limit are cut to one past it before anything
        looks at the whole body (the base class's NUL check encodes it on the event loop):
        the field validators below still refuse them, naming the field, at a bounded cost."""
        if not isinstance(data, dict):
            return data
        settings = get_integration_settings()
        cut = dict(data)
        messages = cut.get("messages")
        if isinstance(messages, list):
            messages = messages[: settings.max_messages + 1]
            cut["messages"] = [
                _cut_parts(message, settings.max_content_parts) for message in messages
            ]
        metadata = cut.get("metadata")
        if isinstance(metadata, dict) and len(metadata) > _MAX_METADATA:
            cut["metadata"] = dict(list(metadata.items())[: _MAX_METADATA + 1])
        for name in ("tools", "functions", "modalities"):
            if isinstance(cut.get(name), list):
                cut[name] = cut[name][:_MAX_UNSUPPORTED_ITEMS]
        return cut

    @field_validator("messages", mode="before")
    @classmethod
    def _messages_bounded(cls, messages: Any) -> Any:
        # Before item validation: a huge array is refused without looking at its items.
        limit = get_integration_settings().max_messages
        if isinstance(messages, list):
            if not messages:
                raise ValueError("send at least one message")
            if len(messages) > limit:
                raise ValueError(f"at most {limit} messages per request")
        return messages

    @field_validator("metadata")
    @classmethod
    def _metadata_bounded(cls, metadata: dict[str, str] | None) -> dict[str, str] | None:
        if metadata is not None and (
            len(metadata) > _MAX_METADATA
            or any(len(key) > 64 or len(value) > 512 for key, value in metadata.items())
        ):
            raise ValueError("at most 16 pairs, keys up to 64 and values up to 512 characters")
        return metadata

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int | None) -> int | None:
        if n is not None and n != 1:
            raise ValueError("only n=1 is supported: a bot gives one answer per turn")
        return n

    @field_validator("tools", "functions")
    @classmethod
    def _no_tools(cls, tools: list[Any] | None) -> list[Any] | None:
        if tools:
            raise ValueError(f"tools {_NO_TOOLS}")
        return tools

    @field_validator("tool_choice", "function_call")
    @classmethod
    def _no_tool_choice(cls, choice: Any) -> Any:
        if choice not in (None, "none", "auto"):
            raise ValueError(f"choosing a tool {_NO_TOOLS}")
        return choice

    @field_validator("response_format")
    @classmethod
    def _text_only(cls, response_format: dict[str, Any] | None) -> dict[str, Any] | None:
        if response_format is not None and response_format.get("type") != "text":
            kind = str(response_format.get("type"))[:64]
            raise ValueError(f"response_format {kind!r} is not supported: a bot answers in text")
        return response_format

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, logprobs: bool | None) -> bool | None:
        if logprobs:
            raise ValueError("log probabilities are not supported")
        return logprobs

    @field_validator("top_logprobs", "audio", "prediction")
    @classmethod
    def _unsupported(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("is not supported by SnapAgent bots")
        return value

    @field_validator("modalities")
    @classmethod
    def _text_modality(cls, modalities: list[str] | None) -> list[str] | None:
        if modalities is not None and set(modalities) - {"text"}:
            raise ValueError("only the text modality is supported")
        return modalities


class SnapAgentExtension(BaseModel):
    """The ``snapagent`` member of an answer: where the turn went and what it cited."""

    bot_id: str = Field(description="The bot that answered (the request's `model`).")
    session_id: str = Field(
        description="The session of the turn; send it back as `session_id` to continue it."
    )
    run_id: str = Field(description="The workflow run (see the executions API).")
    version: int | None = Field(description="The workflow version that answered (null: V1).")
    sources: list[Citation] | None = Field(
        default=None, description="The documents the answer drew on (in the last chunk)."
    )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = Field(default="assistant", description="Always `assistant`.")
    content: str = Field(description="The bot's answer.")
    refusal: None = Field(default=None, description="Always null (OpenAI's field, kept).")


class Choice(BaseModel):
    index: int = Field(description="Always 0: one choice per answer.")
    message: AssistantMessage = Field(description="The answer.")
    finish_reason: Literal["stop"] = Field(description="Always `stop`: the answer is complete.")
    logprobs: None = Field(default=None, description="Always null (not available).")


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Model input tokens the turn's workflow used.")
    completion_tokens: int = Field(description="Model output tokens it used.")
    total_tokens: int = Field(description="Their sum.")


class ChatCompletion(BaseModel):
    """A ``chat.completion`` with the ``snapagent`` extension."""

    id: str = Field(description="`chatcmpl-` followed by the run id.")
    object: Literal["chat.completion"] = Field(
        default="chat.completion", description="Always `chat.completion`."
    )
    created: int = Field(description="When the answer was made, in Unix seconds.")
    model: str = Field(description="The request's `model` (the bot id).")
    choices: list[Choice] = Field(description="Exactly one choice.")
    usage: Usage = Field(description="Model tokens the turn's workflow used, summed.")
    system_fingerprint: None = Field(default=None, description="Always null.")
    snapagent: SnapAgentExtension = Field(
        description="SnapAgent's extension: session, run and citations."
    )


class ModelPublic(BaseModel):
    """A bot as a model."""

    id: str = Field(description="The bot id: pass it as `model`.")
    object: Literal["model"] = Field(default="model", description="Always `model`.")
    created: int = Field(description="When the bot was created, in Unix seconds.")
    owned_by: str = Field(description="Always `snapagent`.")
    name: str = Field(description="The bot's name.")
    description: str = Field(description="The bot's description (may be empty).")


class ModelList(BaseModel):
    object: Literal["list"] = Field(default="list", description="Always `list`.")
    data: list[ModelPublic] = Field(description="Your bots a chat can run on, oldest first.")
