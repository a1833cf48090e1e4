"""`DeferredChatModelRegistry`: the environment's `ChatModelRegistry`, imported on first use.

The provider SDKs (anthropic, openai, boto3) take seconds to import on a busy machine; a server
worker must answer ``/health`` long before its first chat needs them, and nothing may import
them on the event loop. The app therefore holds this stand-in, built once in ``create_app``:
`check` never imports an SDK (`snapagent.llm.model_ids`), `warm_up` builds the real registry
in a worker thread (the app's lifespan starts it), and `resolve` builds it if it is not ready.

    chat_models = DeferredChatModelRegistry()       # cheap
    chat_models.check("anthropic:claude-x")         # cheap too: ids and settings only
    await chat_models.warm_up()                     # imports the SDKs off the event loop
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from snapagent.llm.model_ids import check_chat_model
from snapagent.llm.settings import ProviderSettings, get_provider_settings
from snapagent.workflow.services import ChatModel

if TYPE_CHECKING:
    from snapagent.llm.registry import ChatModelRegistry

__all__ = ["DeferredChatModelRegistry"]


class DeferredChatModelRegistry:
    """Implements ``ChatModelProvider`` (and ``check``) by delegating to a
    `ChatModelRegistry` built on first use from ``settings`` (default: the environment)."""

    def __init__(self, settings: ProviderSettings | None = None) -> None:
        self._settings = settings
        self._registry: ChatModelRegistry | None = None
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

    async def warm_up(self) -> None:
        """Build the registry (importing the SDKs) in a worker thread."""
        await asyncio.to_thread(lambda: self.registry)

    def resolve(self, model_id: str | None) -> ChatModel:
        return self.registry.resolve(model_id)

    def check(self, model_id: str | None) -> None:
        check_chat_model(self.settings, model_id)

    async def aclose(self) -> None:
        """Close the clients made so far (nothing if no model was ever used)."""
        if self._registry is not None:
            await self._registry.aclose()
