"""Models on AWS Bedrock through ``boto3`` ``bedrock-runtime`` Converse: ``bedrock:<model id>``.

boto3 is synchronous: ``converse`` runs in a worker thread, and ``converse_stream`` is read by a
pump thread that hands events to the event loop over an ``asyncio.Queue``. When the consumer
stops early (cancelled run, closed generator) the pump is told to stop and the HTTP stream is
closed, so Bedrock stops generating.

    client = BedrockChatModel.make_client(region="us-east-1")
    model = BedrockChatModel("anthropic.claude-3-5-sonnet-20240620-v1:0", client=client,
                             retry=RetryPolicy())
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Any

import boto3
from botocore.config import Config

from snapagent.errors import ProviderError
from snapagent.llm.base import RemoteChatModel, Turn, normalise_finish_reason, split_system
from snapagent.llm.botocore_errors import translate_botocore_error
from snapagent.llm.errors import ProviderMalformedResponseError, ProviderUnavailableError
from snapagent.llm.retry import RetryPolicy
from snapagent.llm.tooling import ToolCallAccumulator, structured_as_tool, take_structured
from snapagent.workflow.services import ChatChunk, ChatRequest, ChatResult, TokenUsage, ToolCall

__all__ = ["BedrockChatModel", "make_bedrock_client"]


def make_bedrock_client(
    *,
    region: str,
    endpoint_url: str | None = None,
    timeout_seconds: float = 60.0,
    connect_timeout_seconds: float = 10.0,
) -> Any:
    """A bedrock-runtime client with botocore's own retries off (our policy retries)."""
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        read_timeout=timeout_seconds,
        connect_timeout=connect_timeout_seconds,
    )
    # A session per client: boto3's default session is not safe to share across threads.
    session = boto3.session.Session()
    return session.client(
        "bedrock-runtime", region_name=region, endpoint_url=endpoint_url, config=config
    )


class BedrockChatModel(RemoteChatModel):
    """A Bedrock model via the Converse API (any model family Converse supports)."""

    provider = "bedrock"

    def __init__(
        self, model: str, *, client: Any, retry: RetryPolicy, default_max_tokens: int = 1024
    ) -> None:
        super().__init__(model, retry=retry, default_max_tokens=default_max_tokens)
        self._client = client

    async def aclose(self) -> None:
        await asyncio.to_thread(self._client.close)

    def translate_error(self, exc: Exception) -> ProviderError | None:
        return translate_botocore_error(exc, provider=self.provider, model=self.model)

    def _params(self, request: ChatRequest) -> dict[str, Any]:
        system, turns = split_system(request, provider=self.provider, model=self.model)
        inference: dict[str, Any] = {"maxTokens": self.max_tokens(request)}
        if request.temperature is not None:
            inference["temperature"] = request.temperature
        if request.stop:
            inference["stopSequences"] = list(request.stop)
        params: dict[str, Any] = {
            "modelId": self.model,
            "messages": [_message(t) for t in turns],
            "inferenceConfig": inference,
        }
        if system:
            params["system"] = [{"text": system}]
        tool_config = _tool_config(request, turns)
        if tool_config is not None:
            params["toolConfig"] = tool_config
        return params

    def _fail(self, what: str, error: type[ProviderUnavailableError]) -> ProviderError:
        where = f"{self.provider} model {self.model!r}"
        return error(f"{where}: {what}", provider=self.provider, model=self.model)

    async def _complete_once(self, request: ChatRequest) -> ChatResult:
        params = self._params(request)
        with self.provider_errors():
            response = await asyncio.to_thread(self._client.converse, **params)
        try:
            content = response["output"]["message"]["content"]
            text = "".join(block.get("text", "") for block in content)
            calls = [
                ToolCall(use["toolUseId"], use["name"], use.get("input") or {})
                for block in content
                if (use := block.get("toolUse")) is not None
            ]
            usage = response.get("usage", {})
        except (KeyError, TypeError, AttributeError):
            raise self._fail(
                "the response has no message", ProviderMalformedResponseError
            ) from None
        tool_calls, data = take_structured(request, calls)
        return ChatResult(
            text=text,
            model=self.model_id,
            finish_reason=normalise_finish_reason(response.get("stopReason")),
            usage=TokenUsage(usage.get("inputTokens", 0), usage.get("outputTokens", 0)),
            tool_calls=tool_calls,
            data=data,
        )

    async def _stream_once(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        params = self._params(request)
        pump = _StreamPump(lambda: self._client.converse_stream(**params)["stream"])
        stop_reason: str | None = None
        usage = TokenUsage()
        calls = ToolCallAccumulator(self.provider, self.model)
        try:
            with self.provider_errors():
                pump.start()
                while (event := await pump.next_event()) is not None:
                    if "contentBlockDelta" in event:
                        block = event["contentBlockDelta"]
                        delta = block.get("delta", {})
                        if delta.get("text"):
                            yield ChatChunk(text=delta["text"])
                        elif "toolUse" in delta:
                            calls.add(
                                block.get("contentBlockIndex", 0), delta["toolUse"].get("input")
                            )
                    elif "contentBlockStart" in event:
                        block = event["contentBlockStart"]
                        use = block.get("start", {}).get("toolUse")
                        if use is not None:
                            index = block.get("contentBlockIndex", 0)
                            calls.start(index, call_id=use.get("toolUseId"), name=use.get("name"))
                    elif "messageStop" in event:
                        stop_reason = event["messageStop"].get("stopReason")
                    elif "metadata" in event:
                        counts = event["metadata"].get("usage", {})
                        usage = TokenUsage(
                            counts.get("inputTokens", 0), counts.get("outputTokens", 0)
                        )
        finally:
            pump.stop()
        if stop_reason is None:
            raise self._fail("the stream ended before the answer did", ProviderUnavailableError)
        tool_calls, data = take_structured(request, calls.calls())
        yield ChatChunk(
            finish_reason=normalise_finish_reason(stop_reason),
            usage=usage,
            tool_calls=tool_calls,
            data=data,
        )


def _message(turn: Turn) -> dict[str, Any]:
    """A turn as Converse content blocks: tool results first in a user turn, no empty text
    block (Converse refuses blank text)."""
    blocks: list[dict[str, Any]] = [
        {
            "toolResult": {
                "toolUseId": result.tool_call_id,
                "content": [{"text": result.content}],
                "status": "error" if result.is_error else "success",
            }
        }
        for result in turn.tool_results
    ]
    if turn.content or not (turn.tool_results or turn.tool_calls):
        blocks.append({"text": turn.content})
    blocks += [
        {"toolUse": {"toolUseId": call.id, "name": call.name, "input": dict(call.arguments)}}
        for call in turn.tool_calls
    ]
    return {"role": turn.role, "content": blocks}


def _tool_config(request: ChatRequest, turns: list[Turn]) -> dict[str, Any] | None:
    """Converse ``toolConfig``. It has no "none" choice: such a request sends no tools - unless
    the conversation already holds tool turns, which Converse only accepts with tools
    declared, and then the model is left to choose."""
    tools, choice = structured_as_tool(request)
    has_tool_turns = any(t.tool_calls or t.tool_results for t in turns)
    if not tools or (choice is not None and choice.mode == "none" and not has_tool_turns):
        return None
    config: dict[str, Any] = {
        "tools": [
            {
                "toolSpec": {
                    "name": t.name,
                    "description": t.description,
                    "inputSchema": {"json": dict(t.parameters)},
                }
            }
            for t in tools
        ]
    }
    if choice is not None and choice.mode != "none":
        config["toolChoice"] = (
            {"tool": {"name": choice.name}}
            if choice.mode == "tool"
            else {"any" if choice.mode == "required" else "auto": {}}
        )
    return config


class _StreamPump:
    """Reads a botocore EventStream on a thread and hands its events to the event loop."""

    def __init__(self, open_stream: Callable[[], Any]) -> None:
        self._open = open_stream
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None

    def start(self) -> None:
        threading.Thread(target=self._run, name="bedrock-stream", daemon=True).start()

    async def next_event(self) -> dict[str, Any] | None:
        """The next event; None at the end; raises what the thread raised."""
        kind, item = await self._queue.get()
        if kind == "error":
            raise item
        return item if kind == "event" else None

    def stop(self) -> None:
        """Stop reading and close the HTTP stream (safe from the loop thread, idempotent)."""
        self._stopped.set()
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            _close_quietly(stream)

    def _post(self, kind: str, item: Any) -> None:
        if self._stopped.is_set():
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, item))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            self._stopped.set()

    def _run(self) -> None:
        try:
            stream = self._open()
            with self._lock:
                if self._stopped.is_set():  # cancelled while the request was in flight
                    _close_quietly(stream)
                    return
                self._stream = stream
            for event in stream:
                if self._stopped.is_set():
                    break
                self._post("event", event)
            self._post("end", None)
        except Exception as exc:
            self._post("error", exc)
        finally:
            self.stop()


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:  # closing a half-read socket from another thread may complain; it is closed
        return
