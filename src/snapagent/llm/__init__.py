"""Chat and embedding model clients: Anthropic, AWS Bedrock, OpenAI-compatible, offline, local.

Import what you need from here; the SDKs (anthropic, openai, boto3, torch) load only when a
name that needs them is first used, so ``import snapagent.llm.embedding`` stays cheap.

    from snapagent.llm import ChatModelRegistry, ProviderSettings, get_embedding_model

    registry = ChatModelRegistry(ProviderSettings())
    model = registry.resolve("offline")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # precise types for checkers; at run time names load on first use
    from snapagent.llm.anthropic_model import AnthropicChatModel
    from snapagent.llm.bedrock_model import BedrockChatModel
    from snapagent.llm.embedding import EmbeddingModel
    from snapagent.llm.errors import (
        ProviderAuthenticationError,
        ProviderBadRequestError,
        ProviderMalformedResponseError,
        ProviderNotConfiguredError,
        ProviderRateLimitError,
        ProviderTimeoutError,
        ProviderUnavailableError,
    )
    from snapagent.llm.local_embeddings import LocalEmbeddingModel
    from snapagent.llm.offline import OfflineChatModel
    from snapagent.llm.openai_model import OpenAIChatModel
    from snapagent.llm.registry import (
        ChatModelRegistry,
        EmbeddingRegistry,
        UnknownModelError,
        get_embedding_model,
    )
    from snapagent.llm.remote_embeddings import BedrockTitanEmbeddingModel, OpenAIEmbeddingModel
    from snapagent.llm.retry import RetryPolicy
    from snapagent.llm.settings import ProviderSettings, get_provider_settings

__all__ = [
    "AnthropicChatModel",
    "BedrockChatModel",
    "BedrockTitanEmbeddingModel",
    "ChatModelRegistry",
    "EmbeddingModel",
    "EmbeddingRegistry",
    "LocalEmbeddingModel",
    "OfflineChatModel",
    "OpenAIChatModel",
    "OpenAIEmbeddingModel",
    "ProviderAuthenticationError",
    "ProviderBadRequestError",
    "ProviderMalformedResponseError",
    "ProviderNotConfiguredError",
    "ProviderRateLimitError",
    "ProviderSettings",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RetryPolicy",
    "UnknownModelError",
    "get_embedding_model",
    "get_provider_settings",
]

_HOME = {
    "AnthropicChatModel": "anthropic_model",
    "BedrockChatModel": "bedrock_model",
    "BedrockTitanEmbeddingModel": "remote_embeddings",
    "ChatModelRegistry": "registry",
    "EmbeddingModel": "embedding",
    "EmbeddingRegistry": "registry",
    "LocalEmbeddingModel": "local_embeddings",
    "OfflineChatModel": "offline",
    "OpenAIChatModel": "openai_model",
    "OpenAIEmbeddingModel": "remote_embeddings",
    "ProviderAuthenticationError": "errors",
    "ProviderBadRequestError": "errors",
    "ProviderMalformedResponseError": "errors",
    "ProviderNotConfiguredError": "errors",
    "ProviderRateLimitError": "errors",
    "ProviderSettings": "settings",
    "ProviderTimeoutError": "errors",
    "ProviderUnavailableError": "errors",
    "RetryPolicy": "retry",
    "UnknownModelError": "registry",
    "get_embedding_model": "registry",
    "get_provider_settings": "settings",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'snapagent.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"snapagent.llm.{module}"), name)
