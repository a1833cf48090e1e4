"""The part the ``anthropic`` and ``openai`` clients share: one SDK client, its key, its errors."""

from __future__ import annotations

from typing import Any

from snapagent.errors import ProviderError
from snapagent.llm.base import RemoteChatModel
from snapagent.llm.retry import RetryPolicy
from snapagent.llm.sdk_errors import translate_sdk_error

__all__ = ["SdkChatModel"]


class SdkChatModel(RemoteChatModel):
    """A chat model backed by an async SDK client that has ``close()`` (Anthropic, OpenAI)."""

    def __init__(
        self,
        model: str,
        *,
        client: Any,
        api_key: str | None,
        retry: RetryPolicy,
        default_max_tokens: int,
    ) -> None:
        super().__init__(model, retry=retry, default_max_tokens=default_max_tokens)
        self._client = client
        self._api_key = api_key  # only to redact it from error messages

    async def aclose(self) -> None:
        await self._client.close()

    def translate_error(self, exc: Exception) -> ProviderError | None:
        return translate_sdk_error(
            exc, provider=self.provider, model=self.model, secrets=[self._api_key]
        )
