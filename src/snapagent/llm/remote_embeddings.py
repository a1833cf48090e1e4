"""Embeddings from a server: OpenAI-compatible (OpenAI, TEI, vLLM, Ollama) and Bedrock Titan v2.

Both normalise what they receive (not every server does), check the vector size against the
declared ``dimension``, batch, and retry transient failures with the shared policy.

    model = OpenAIEmbeddingModel("text-embedding-3-small", api_key="sk-...", dimension=1536,
                                 retry=RetryPolicy())
    titan = BedrockTitanEmbeddingModel(client=make_bedrock_client(region="us-east-1"),
                                       retry=RetryPolicy())
"""

from __future__ import annotations

import abc
import asyncio
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from snapagent.errors import ProviderError
from snapagent.llm.botocore_errors import translate_botocore_error
from snapagent.llm.embedding import Vectors
from snapagent.llm.errors import ProviderMalformedResponseError, forget_context, reraise_translated
from snapagent.llm.retry import RetryPolicy
from snapagent.llm.sdk_errors import translate_sdk_error
from snapagent.llm.tokens import estimate_tokens

__all__ = ["TITAN_V2_MODEL", "BedrockTitanEmbeddingModel", "OpenAIEmbeddingModel"]

TITAN_V2_MODEL = "amazon.titan-embed-text-v2:0"


class _RemoteEmbeddingModel(abc.ABC):
    """What both remote embedders share: ids, checks, normalisation, clean errors."""

    provider = ""

    def __init__(self, model: str, *, dimension: int, retry: RetryPolicy) -> None:
        self.model = model
        self._dimension = dimension
        self._retry = retry

    @property
    def model_id(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r})"

    def malformed(self, what: str) -> ProviderMalformedResponseError:
        return ProviderMalformedResponseError(
            f"{self.provider} embedding model {self.model!r}: {what}",
            provider=self.provider,
            model=self.model,
        )

    def normalised(self, rows: list[list[float]]) -> Vectors:
        vectors = np.asarray(rows, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self._dimension:
            raise self.malformed(
                f"vectors of shape {vectors.shape}, expected (n, {self._dimension}); "
                "set SNAPAGENT_EMBEDDING_DIMENSION to the model's size"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0] = 1  # an all-zero vector stays zero instead of becoming NaN
        normalised: Vectors = np.divide(vectors, norms, dtype=np.float32)
        return normalised

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        try:
            return self.normalised(await self._embed(list(texts)))
        except ProviderError as exc:
            forget_context(exc)
            raise

    async def embed_query(self, text: str) -> Vectors:
        row: Vectors = (await self.embed_documents([text]))[0]
        return row

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    @abc.abstractmethod
    async def _embed(self, texts: list[str]) -> list[list[float]]:
        """Raw vectors for ``texts`` in order (retries included)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the client's connections."""


class OpenAIEmbeddingModel(_RemoteEmbeddingModel):
    """``openai:<model>`` embeddings on any server speaking ``POST /v1/embeddings``."""

    provider = "openai"

    def __init__(
        self,
        model: str,
        *,
        dimension: int,
        retry: RetryPolicy,
        api_key: str | None = None,
        base_url: str | None = None,
        batch_size: int = 128,
        timeout_seconds: float = 60.0,
    ) -> None:
        super().__init__(model, dimension=dimension, retry=retry)
        self._api_key = api_key
        self.batch_size = batch_size
        self._client_options: dict[str, Any] = {
            "api_key": api_key or "not-needed",
            "base_url": base_url,
            "timeout": timeout_seconds,
            "max_retries": 0,
        }
        self._client: Any = None  # made by the first batch: see _sdk_client

    def _make_client(self) -> Any:
        import openai

        return openai.AsyncOpenAI(**self._client_options)

    async def _sdk_client(self) -> Any:
        """The SDK client, made at the first batch on a worker thread: importing openai takes
        seconds on a busy machine and must not happen on the event loop (see `llm.lazy`)."""
        if self._client is None:
            client = await asyncio.to_thread(self._make_client)
            if self._client is None:
                self._client = client
            else:  # a concurrent first batch made one first
                await client.close()
        return self._client

    def _translate(self, exc: Exception) -> ProviderError | None:
        return translate_sdk_error(
            exc, provider=self.provider, model=self.model, secrets=[self._api_key]
        )

    async def _batch_once(self, batch: list[str]) -> list[list[float]]:
        with reraise_translated(self._translate):
            client = await self._sdk_client()
            response = await client.embeddings.create(
                model=self.model, input=batch, encoding_format="float"
            )
        rows = sorted(getattr(response, "data", None) or [], key=lambda item: item.index)
        if len(rows) != len(batch):
            raise self.malformed(f"{len(rows)} vectors for {len(batch)} texts")
        return [row.embedding for row in rows]

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        return await self._retry.call(lambda: self._batch_once(batch))

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            rows += await self._embed_batch(texts[start : start + self.batch_size])
        return rows

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


class BedrockTitanEmbeddingModel(_RemoteEmbeddingModel):
    """``bedrock:amazon.titan-embed-text-v2:0``: one InvokeModel per text, a few in parallel.

    Give it a boto3 ``client``, or ``make_client`` to have one made by the first call on its
    worker thread (boto3 takes seconds to import; the registry passes a factory, `llm.lazy`).
    """

    provider = "bedrock"

    def __init__(
        self,
        *,
        client: Any = None,
        make_client: Callable[[], Any] | None = None,
        retry: RetryPolicy,
        model: str = TITAN_V2_MODEL,
        dimension: int = 1024,
        concurrency: int = 4,
    ) -> None:
        if dimension not in (256, 512, 1024):
            raise ValueError("Titan text embeddings v2 supports 256, 512 or 1024 dimensions")
        if client is None and make_client is None:
            raise ValueError("give a boto3 client or make_client")
        super().__init__(model, dimension=dimension, retry=retry)
        self._client = client
        self._make_client = make_client
        self._client_lock = threading.Lock()
        self._slots = asyncio.Semaphore(concurrency)

    def _boto_client(self) -> Any:
        """The client (made here, on the calling worker thread, the first time)."""
        with self._client_lock:
            if self._client is None and self._make_client is not None:
                self._client = self._make_client()
            return self._client

    def _translate(self, exc: Exception) -> ProviderError | None:
        return translate_botocore_error(exc, provider=self.provider, model=self.model)

    def _invoke(self, text: str) -> list[float]:
        body = json.dumps({"inputText": text, "dimensions": self._dimension, "normalize": True})
        with reraise_translated(self._translate):
            response = self._boto_client().invoke_model(
                modelId=self.model, body=body, contentType="application/json"
            )
            payload = json.loads(response["body"].read())
        embedding = payload.get("embedding") if isinstance(payload, dict) else None
        if not isinstance(embedding, list):
            raise self.malformed("no embedding in the response")
        return embedding

    async def _one(self, text: str) -> list[float]:
        async with self._slots:
            return await self._retry.call(lambda: asyncio.to_thread(self._invoke, text))

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        return list(await asyncio.gather(*(self._one(text) for text in texts)))

    async def aclose(self) -> None:
        if self._client is not None:
            await asyncio.to_thread(self._client.close)
