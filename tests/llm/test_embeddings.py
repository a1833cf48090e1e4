"""Embeddings: the real all-MiniLM-L6-v2 (the `torch` extra), and the remote ones against their
fake servers. The default model, multilingual-e5-small, is tested in test_e5_embeddings.py."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from snapagent.llm.bedrock_model import make_bedrock_client
from snapagent.llm.embedding import EmbeddingModel
from snapagent.llm.errors import ProviderAuthenticationError, ProviderMalformedResponseError
from snapagent.llm.local_embeddings import LocalEmbeddingModel
from snapagent.llm.registry import get_embedding_model
from snapagent.llm.remote_embeddings import BedrockTitanEmbeddingModel, OpenAIEmbeddingModel
from snapagent.llm.retry import RetryPolicy
from snapagent.testing.providers import (
    BedrockFakeServer,
    ErrorReply,
    OpenAIFakeServer,
    Reply,
    fake_embedding,
)

from .cases import SleepRecorder


@pytest.fixture(scope="session")
def local_model() -> LocalEmbeddingModel:
    """Loaded once for the whole session (the load is the slow part)."""
    model = get_embedding_model("local")
    assert isinstance(model, LocalEmbeddingModel)
    model.load()
    return model


@pytest.mark.slow
@pytest.mark.torch
async def test_local_embeddings_are_normalised_384_float32(
    local_model: LocalEmbeddingModel,
) -> None:
    assert isinstance(local_model, EmbeddingModel)
    vectors = await local_model.embed_documents(["first chunk", "두 번째 청크", "third"])

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = await local_model.embed_query("first chunk")
    assert query.shape == (384,)
    np.testing.assert_allclose(query, vectors[0], atol=1e-5)
    assert (await local_model.embed_documents([])).shape == (0, 384)


@pytest.mark.slow
@pytest.mark.torch
async def test_a_paraphrase_scores_closer_than_an_unrelated_sentence(
    local_model: LocalEmbeddingModel,
) -> None:
    question, paraphrase, unrelated = await local_model.embed_documents(
        [
            "How do I reset my password?",
            "What are the steps to change a forgotten password?",
            "The weather in Busan is sunny today.",
        ]
    )

    assert float(question @ paraphrase) > float(question @ unrelated) + 0.3


@pytest.mark.slow
@pytest.mark.torch
async def test_local_model_is_loaded_once_and_serves_concurrent_calls(
    local_model: LocalEmbeddingModel,
) -> None:
    assert LocalEmbeddingModel().load() is local_model.load()
    texts = [f"question number {i}" for i in range(4)]

    together = await asyncio.gather(*(local_model.embed_query(text) for text in texts))
    batch = await local_model.embed_documents(texts)

    np.testing.assert_allclose(np.stack(together), batch, atol=1e-5)


@pytest.mark.slow
@pytest.mark.torch
def test_local_token_count_uses_the_model_tokenizer(local_model: LocalEmbeddingModel) -> None:
    assert local_model.count_tokens("Hello world") == 2
    assert local_model.count_tokens("word " * 300) == 300  # not truncated at the model limit
    assert local_model.max_input_tokens == 256


async def test_openai_compatible_embeddings_batch_and_normalise() -> None:
    with OpenAIFakeServer(embedding_dimension=6) as server:
        model = OpenAIEmbeddingModel(
            "embed-x", dimension=6, retry=RetryPolicy(), base_url=server.base_url, batch_size=2
        )
        vectors = await model.embed_documents(["a", "b", "c"])
        await model.aclose()

    assert vectors.shape == (3, 6)
    expected = np.asarray(fake_embedding("c", 6), dtype=np.float32)
    np.testing.assert_allclose(vectors[2], expected / np.linalg.norm(expected), atol=1e-6)
    assert [r.json()["input"] for r in server.requests] == [["a", "b"], ["c"]]


async def test_openai_embeddings_retry_and_fail_clearly() -> None:
    sleeps = SleepRecorder()
    with OpenAIFakeServer(embedding_dimension=4) as server:
        server.enqueue(ErrorReply(503), Reply(), ErrorReply(401, "bad key sk-embed-secret-123"))
        model = OpenAIEmbeddingModel(
            "embed-x",
            dimension=4,
            retry=RetryPolicy(initial_backoff=0.01, sleep=sleeps),
            api_key="sk-embed-secret-123",
            base_url=server.base_url,
        )
        assert (await model.embed_query("hello")).shape == (4,)
        with pytest.raises(ProviderAuthenticationError) as caught:
            await model.embed_documents(["x"])
        wrong_size = OpenAIEmbeddingModel(
            "embed-x", dimension=5, retry=RetryPolicy(), base_url=server.base_url
        )
        with pytest.raises(ProviderMalformedResponseError, match="SNAPAGENT_EMBEDDING_DIMENSION"):
            await wrong_size.embed_documents(["x"])
        await model.aclose()
        await wrong_size.aclose()

    assert len(sleeps.waits) == 1
    assert "sk-embed-secret-123" not in str(caught.value)
    assert caught.value.__context__ is None


async def test_bedrock_titan_embeddings(aws_credentials: None) -> None:
    with BedrockFakeServer() as server:
        client = make_bedrock_client(region="us-east-1", endpoint_url=server.base_url)
        model = BedrockTitanEmbeddingModel(client=client, retry=RetryPolicy(), dimension=256)
        vectors = await model.embed_documents(["one", "two", "three"])
        await model.aclose()

    assert vectors.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    bodies = sorted(r.json()["inputText"] for r in server.requests)
    assert bodies == ["one", "three", "two"]
    assert all(
        r.json() | {"inputText": ""} == {"inputText": "", "dimensions": 256, "normalize": True}
        for r in server.requests
    )
    assert server.requests[0].path == "/model/amazon.titan-embed-text-v2:0/invoke"
