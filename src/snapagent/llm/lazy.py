"""`DeferredChatModelRegistry`: the environment's chat models, each provider's SDK imported at
its first call, on a worker thread.

The provider SDKs (anthropic, openai, boto3) take seconds to import on a busy machine. A server
must answer ``/health`` at once, whatever providers a bot might one day use, and nothing may
import them on the event loop. So this is the one place where they are deferred:

- `check` and `resolve` never import an SDK (`snapagent.llm.model_ids` checks ids and
  settings; a remote model resolves to a `FirstUseChatModel`, a stand-in with its id);
- the stand-in's first ``complete``/``stream`` builds the real client in a worker thread
  (`ChatModelRegistry` imports that provider's module, and its SDK, only then) and delegates
  from there on. The offline model needs no SDK and resolves directly.

    chat_models = DeferredChatModelRegistry()       # cheap
    chat_models.check("anthropic:claude-x")         # cheap too: ids and settings only
    model = chat_models.resolve("anthropic:claude-x")  # a FirstUseChatModel, still cheap
    await model.complete(request)                   # imports anthropic on a thread, once

A process that never calls a remote model never imports its SDK (`tests/llm/test_lazy.py`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from snapagent.llm.model_ids import check_chat_model
from snapagent.llm.offline import OFFLINE_MODEL_ID
from snapagent.llm.settings import ProviderSettings, get_provider_settings
from snapagent.workflow.services import ChatChunk, ChatModel, ChatRequest, ChatResult

if TYPE_CHECKING:
    from snapagent.llm.registry import ChatModelRegistry

__all__ = ["DeferredChatModelRegistry", "FirstUseChatModel"]


class FirstUseChatModel:
    """Implements ``ChatModel`` for ``model_id`` by delegating to the model ``build`` returns,
    called once, in a worker thread, at the first ``complete`` or ``stream``."""

    def __init__(self, model_id: str, build: Callable[[], ChatModel]) -> None:
        self._model_id = model_id
        self._build = build
        self._model: ChatModel | None = None

    @property
    def model_id(self) -> str:
        return self._model_id

    async def _built(self) -> ChatModel:
        if self._model is None:
            # Concurrent first calls may each start a build; the registry's cache makes
            # them return the same client.
            self._model = await asyncio.to_thread(self._build)
        return self._model

    async def complete(self, request: ChatRequest) -> ChatResult:
        return await (await self._built()).complete(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        chunks = (await self._built()).stream(request)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)  # an async generator: end it now
            if close is not None:
                await close()


class DeferredChatModelRegistry:
    """Implements ``ChatModelProvider`` (and ``check``) by delegating to a
    `ChatModelRegistry` built on first use from ``settings`` (default: the environment),
    remote models through `FirstUseChatModel`."""

    def __init__(self, settings: ProviderSettings | None = None) -> None:
        self._settings = settings
        self._registry: ChatModelRegistry | None = None
        self._stand_ins: dict[str, FirstUseChatModel] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> ProviderSettings:
        if self._settings is None:
            self._settings = get_provider_settings()
        return self._settings

    @property
    def registry(self) -> ChatModelRegistry:
        if self._registry is None:
            with self._lock:
                if self._registry is None:
                    from snapagent.llm.registry import ChatModelRegistry

                    self._registry = ChatModelRegistry(self.settings)
        return self._registry

    def resolve(self, model_id: str | None) -> ChatModel:
        provider, name = check_chat_model(self.settings, model_id)  # raises what resolve would
        if provider == OFFLINE_MODEL_ID:
            return self.registry.resolve(model_id)
        key = f"{provider}:{name}"
        registry = self.registry  # cheap: it imports no SDK until a client is created
        with self._lock:
            stand_in = self._stand_ins.get(key)
            if stand_in is None:
                stand_in = FirstUseChatModel(key, lambda: registry.resolve(key))
                self._stand_ins[key] = stand_in
        return stand_in

    def check(self, model_id: str | None) -> None:
        check_chat_model(self.settings, model_id)

    async def aclose(self) -> None:
        """Close the clients made so far (nothing if no model was ever used)."""
        if self._registry is not None:
            await self._registry.aclose()
