"""`DeferredChatModelRegistry`: the environment's `ChatModelRegistry`, imported on first use.

The provider SDKs (anthropic, openai, boto3) take seconds to import on a busy machine; a server
worker must answer ``/health`` long before its first chat needs them. The app therefore holds
this stand-in, built once in ``create_app``; the real registry is created the first time a
model is resolved or checked.

    chat_models = DeferredChatModelRegistry()       # cheap
    chat_models.check("anthropic:claude-x")         # imports and builds the registry now
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from snapagent.workflow.services import ChatModel

if TYPE_CHECKING:
    from snapagent.llm.registry import ChatModelRegistry
    from snapagent.llm.settings import ProviderSettings

__all__ = ["DeferredChatModelRegistry"]


class DeferredChatModelRegistry:
    """Implements ``ChatModelProvider`` (and ``check``) by delegating to a
    `ChatModelRegistry` built on first use from ``settings`` (default: the environment)."""

    def __init__(self, settings: ProviderSettings | None = None) -> None:
        self._settings = settings
        self._registry: ChatModelRegistry | None = None
        self._lock = threading.Lock()

    @property
    def registry(self) -> ChatModelRegistry:
        if self._registry is None:
            with self._lock:
                if self._registry is None:
                    from snapagent.llm.registry import ChatModelRegistry

                    self._registry = ChatModelRegistry(self._settings)
        return self._registry

    def resolve(self, model_id: str | None) -> ChatModel:
        return self.registry.resolve(model_id)

    def check(self, model_id: str | None) -> None:
        self.registry.check(model_id)

    async def aclose(self) -> None:
        """Close the clients made so far (nothing if no model was ever used)."""
        if self._registry is not None:
            await self._registry.aclose()
