"""Claude through the official ``anthropic`` SDK (Messages API), model ids ``anthropic:<model>``.

    model = AnthropicChatModel("claude-sonnet-4-5", api_key="sk-ant-...", retry=RetryPolicy())
    result = await model.complete(ChatRequest(messages=[ChatMessage("user", "Hi")]))

SDK retries are off (``max_retries=0``): :class:`~snapagent.llm.retry.RetryPolicy` is the one
policy for every provider.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import anthropic

from snapagent.llm.base import Turn, normalise_finish_reason, split_system
from snapagent.llm.errors import ProviderMalformedResponseError
from snapagent.llm.retry import RetryPolicy
from snapagent.llm.sdk_model import SdkChatModel
from snapagent.llm.tooling import ToolCallAccumulator, structured_as_tool, take_structured
from snapagent.workflow.services import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    TokenUsage,
    ToolCall,
    ToolChoice,
)

__all__ = ["AnthropicChatModel"]


class AnthropicChatModel(SdkChatModel):
    """A Claude model; ``base_url`` points it at a proxy or a local fake server."""

    provider = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str,
        retry: RetryPolicy,
        base_url: str | None = None,
        timeout_seconds: float = 60.0,
        connect_timeout_seconds: float = 10.0,
        default_max_tokens: int = 1024,
    ) -> None:
        client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=anthropic.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            max_retries=0,
        )
        super().__init__(
            model,
            client=client,
            api_key=api_key,
            retry=retry,
            default_max_tokens=default_max_tokens,
        )

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system, turns = split_system(request, provider=self.provider, model=self.model)
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens(request),
            "messages": [_message(t) for t in turns],
        }
        if system:
            params["system"] = system
        tools, choice = structured_as_tool(request)
        if tools:
            params["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                for t in tools
            ]
            if choice is not None:
                params["tool_choice"] = _tool_choice(choice)
        if request.temperature is not None:
            # SDK 2.x dropped the typed parameter (newer models fix sampling themselves); the
            # API still accepts it for models that support it, so send it as a raw body field.
            params["extra_body"] = {"temperature": request.temperature}
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        return params

    def _malformed(self, what: str) -> ProviderMalformedResponseError:
        return ProviderMalformedResponseError(
            f"{self.provider} model {self.model!r}: {what}",
            provider=self.provider,
            model=self.model,
        )

    async def _complete_once(self, request: ChatRequest) -> ChatResult:
        params = self._params(request)
        with self.provider_errors():
            message = await self._client.messages.create(**params)
        content = getattr(message, "content", None)
        if not isinstance(content, list):
            raise self._malformed("the response has no content list")
        text = "".join(block.text for block in content if getattr(block, "type", "") == "text")
        calls = [
            ToolCall(block.id, block.name, block.input if isinstance(block.input, dict) else {})
            for block in content
            if getattr(block, "type", "") == "tool_use"
        ]
        tool_calls, data = take_structured(request, calls)
        usage = TokenUsage(message.usage.input_tokens or 0, message.usage.output_tokens or 0)
        return ChatResult(
            text=text,
            model=self.model_id,
            finish_reason=normalise_finish_reason(message.stop_reason),
            usage=usage,
            tool_calls=tool_calls,
            data=data,
        )

    async def _stream_once(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        params = self._params(request)
        input_tokens = output_tokens = 0
        stop_reason: str | None = None
        calls = ToolCallAccumulator(self.provider, self.model)
        with self.provider_errors():
            stream = await self._client.messages.create(**params, stream=True)
            # Closing the stream closes the HTTP response: a cancelled run frees the connection
            # and the provider stops generating.
            async with stream:
                async for event in stream:
                    if event.type == "content_block_delta":
                        if event.delta.type == "text_delta" and event.delta.text:
                            yield ChatChunk(text=event.delta.text)
                        elif event.delta.type == "input_json_delta":
                            calls.add(event.index, event.delta.partial_json)
                    elif event.type == "content_block_start":
                        block = event.content_block
                        if block.type == "tool_use":
                            calls.start(event.index, call_id=block.id, name=block.name)
                    elif event.type == "message_start":
                        input_tokens = event.message.usage.input_tokens or 0
                        output_tokens = event.message.usage.output_tokens or 0
                    elif event.type == "message_delta":
                        stop_reason = event.delta.stop_reason or stop_reason
                        output_tokens = event.usage.output_tokens or output_tokens
                        if event.usage.input_tokens:
                            input_tokens = event.usage.input_tokens
        tool_calls, data = take_structured(request, calls.calls())
        yield ChatChunk(
            finish_reason=normalise_finish_reason(stop_reason),
            usage=TokenUsage(input_tokens, output_tokens),
            tool_calls=tool_calls,
            data=data,
        )


def _tool_choice(choice: ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "tool", "name": choice.name}
    return {"type": "any" if choice.mode == "required" else choice.mode}


def _message(turn: Turn) -> dict[str, Any]:
    """A turn in the Messages API: plain text, or blocks when tools are involved (tool results
    first in a user turn, as the API requires; no empty text block, which it refuses)."""
    if not turn.tool_calls and not turn.tool_results:
        return {"role": turn.role, "content": turn.content}
    blocks: list[dict[str, Any]] = [
        {
            "type": "tool_result",
            "tool_use_id": result.tool_call_id,
            "content": result.content,
            "is_error": result.is_error,
        }
        for result in turn.tool_results
    ]
    if turn.content:
        blocks.append({"type": "text", "text": turn.content})
    blocks += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": dict(call.arguments)}
        for call in turn.tool_calls
    ]
    return {"role": turn.role, "content": blocks}
