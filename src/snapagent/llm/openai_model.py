"""Any OpenAI-compatible chat server through the official ``openai`` SDK: ``openai:<model>``.

OpenAI itself, or a self-hosted vLLM, Ollama or llama.cpp server via ``base_url``
(``http://host:8000/v1``). Servers that need no key get a placeholder one.

    model = OpenAIChatModel("gpt-4o-mini", api_key="sk-...", retry=RetryPolicy())
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import openai

from snapagent.llm.base import Turn, normalise_finish_reason, split_system
from snapagent.llm.errors import ProviderMalformedResponseError, ProviderUnavailableError
from snapagent.llm.retry import RetryPolicy
from snapagent.llm.sdk_model import SdkChatModel
from snapagent.llm.tokens import estimate_tokens
from snapagent.llm.tooling import ToolCallAccumulator, parse_arguments, parse_json_object
from snapagent.workflow.services import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    TokenUsage,
    ToolCall,
    ToolChoice,
)

__all__ = ["OpenAIChatModel"]


class OpenAIChatModel(SdkChatModel):
    """Chat completions on an OpenAI-compatible server.

    Usage comes from the server; a server that reports none gets our token estimate, so run
    statistics never silently count zero.
    """

    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None,
        retry: RetryPolicy,
        base_url: str | None = None,
        timeout_seconds: float = 60.0,
        connect_timeout_seconds: float = 10.0,
        default_max_tokens: int = 1024,
    ) -> None:
        client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed",  # local servers ignore it; the SDK insists on one
            base_url=base_url,
            timeout=openai.Timeout(timeout_seconds, connect=connect_timeout_seconds),
            max_retries=0,
        )
        super().__init__(
            model,
            client=client,
            api_key=api_key,
            retry=retry,
            default_max_tokens=default_max_tokens,
        )
        # OpenAI's own API deprecated max_tokens (its reasoning models reject it); the servers
        # that copy the API (vLLM, Ollama, llama.cpp) know max_tokens, not always its successor.
        official = base_url is None or "api.openai.com" in base_url
        self._max_tokens_field = "max_completion_tokens" if official else "max_tokens"

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system, turns = split_system(request, provider=self.provider, model=self.model)
        messages = [{"role": "system", "content": system}] if system else []
        for turn in turns:
            messages += _messages(turn)
        params: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            self._max_tokens_field: self.max_tokens(request),
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop"] = list(request.stop)
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in request.tools
            ]
            if request.tool_choice is not None:
                params["tool_choice"] = _tool_choice(request.tool_choice)
        fmt = request.response_format
        if fmt is not None:
            # Not strict: strict mode refuses schemas with optional properties, and callers
            # validate the object against their own declared types anyway.
            schema: dict[str, Any] = {"name": fmt.name, "schema": dict(fmt.schema), "strict": False}
            if fmt.description:
                schema["description"] = fmt.description
            params["response_format"] = {"type": "json_schema", "json_schema": schema}
        return params

    def _estimated_usage(self, request: ChatRequest, text: str) -> TokenUsage:
        prompt = "\n".join([request.system or ""] + [m.content for m in request.messages])
        return TokenUsage(estimate_tokens(prompt), estimate_tokens(text))

    async def _complete_once(self, request: ChatRequest) -> ChatResult:
        with self.provider_errors():
            completion = await self._client.chat.completions.create(**self._params(request))
        choices = getattr(completion, "choices", None)
        if not choices:
            raise ProviderMalformedResponseError(
                f"{self.provider} model {self.model!r}: the response has no choices",
                provider=self.provider,
                model=self.model,
            )
        text = choices[0].message.content or ""
        tool_calls = tuple(
            ToolCall(
                call.id,
                call.function.name,
                parse_arguments(
                    call.function.arguments,
                    name=call.function.name,
                    provider=self.provider,
                    model=self.model,
                ),
            )
            for call in choices[0].message.tool_calls or ()
            if call.type == "function"
        )
        usage = completion.usage
        return ChatResult(
            text=text,
            model=self.model_id,
            finish_reason=normalise_finish_reason(choices[0].finish_reason),
            usage=(
                TokenUsage(usage.prompt_tokens, usage.completion_tokens)
                if usage is not None
                else self._estimated_usage(request, text)
            ),
            tool_calls=tool_calls,
            data=parse_json_object(text) if request.response_format is not None else None,
        )

    async def _stream_once(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        params = self._params(request)
        finish: str | None = None
        usage: TokenUsage | None = None
        parts: list[str] = []
        calls = ToolCallAccumulator(self.provider, self.model)
        with self.provider_errors():
            stream = await self._client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True}
            )
            async with stream:  # closing it closes the HTTP response (cancellation)
                async for chunk in stream:
                    if chunk.usage is not None:
                        usage = TokenUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    for choice in chunk.choices:
                        if choice.finish_reason:
                            finish = choice.finish_reason
                        if choice.delta is None:
                            continue
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            yield ChatChunk(text=choice.delta.content)
                        for piece in choice.delta.tool_calls or ():
                            name = piece.function.name if piece.function else None
                            calls.start(piece.index, call_id=piece.id, name=name)
                            calls.add(
                                piece.index, piece.function.arguments if piece.function else None
                            )
        if finish is None:  # the connection ended before the server said the answer was done
            raise ProviderUnavailableError(
                f"{self.provider} model {self.model!r}: the stream ended before the answer did",
                provider=self.provider,
                model=self.model,
            )
        text = "".join(parts)
        yield ChatChunk(
            finish_reason=normalise_finish_reason(finish),
            usage=usage or self._estimated_usage(request, text),
            tool_calls=calls.calls(),
            data=parse_json_object(text) if request.response_format is not None else None,
        )


def _tool_choice(choice: ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def _messages(turn: Turn) -> list[dict[str, Any]]:
    """A turn as chat-completions messages: tool results are ``tool`` messages of their own
    (OpenAI has no error flag: a failed tool's text says so), then the turn's text."""
    out: list[dict[str, Any]] = [
        {
            "role": "tool",
            "tool_call_id": result.tool_call_id,
            "content": f"Error: {result.content}" if result.is_error else result.content,
        }
        for result in turn.tool_results
    ]
    if turn.tool_calls:
        out.append(
            {
                "role": "assistant",
                "content": turn.content or None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in turn.tool_calls
                ],
            }
        )
    elif turn.content or not turn.tool_results:
        out.append({"role": turn.role, "content": turn.content})
    return out
