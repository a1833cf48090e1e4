"""Model ids resolve to the right clients; missing configuration names its setting."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

import snapagent.llm
from snapagent.errors import DefinitionError, UnavailableError
from snapagent.llm.anthropic_model import AnthropicChatModel
from snapagent.llm.base import split_system
from snapagent.llm.bedrock_model import BedrockChatModel
from snapagent.llm.e5_embeddings import MultilingualE5EmbeddingModel
from snapagent.llm.errors import ProviderBadRequestError, ProviderNotConfiguredError
from snapagent.llm.offline import OfflineChatModel
from snapagent.llm.openai_model import OpenAIChatModel
from snapagent.llm.registry import (
    ChatModelRegistry,
    EmbeddingRegistry,
    UnknownModelError,
    check_local_embedding,
    split_model_id,
)
from snapagent.llm.remote_embeddings import BedrockTitanEmbeddingModel, OpenAIEmbeddingModel
from snapagent.llm.settings import ProviderSettings, load_provider_settings
from snapagent.testing.providers import AnthropicFakeServer, Reply
from snapagent.workflow.services import ChatMessage, ChatModelProvider, ChatRequest

ENV_NAMES = [
    "SNAPAGENT_LLM_MAX_ATTEMPTS",
    "SNAPAGENT_LLM_TIMEOUT_SECONDS",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "AWS_BEDROCK_REGION",
    "AWS_BEDROCK_ENDPOINT_URL",
    "SNAPAGENT_DEFAULT_MODEL",
    "SNAPAGENT_EMBEDDING_MODEL",
    "SNAPAGENT_EMBEDDING_DIMENSION",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def registry() -> AsyncIterator[ChatModelRegistry]:
    made = ChatModelRegistry(
        ProviderSettings(
            anthropic_api_key="sk-ant-registry-test-key",
            openai_api_key="sk-registry-test-key",
            aws_bedrock_region="eu-central-1",
        )
    )
    yield made
    await made.aclose()


def test_defaults_need_no_keys() -> None:
    settings = ProviderSettings()
    assert settings.default_model == "offline"
    assert settings.embedding_model == "local:multilingual-e5-small"
    assert isinstance(ChatModelRegistry(settings).resolve(None), OfflineChatModel)


def test_settings_read_the_documented_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-0123456789")
    monkeypatch.setenv("SNAPAGENT_DEFAULT_MODEL", "anthropic:claude-sonnet-4-5")
    monkeypatch.setenv("SNAPAGENT_LLM_MAX_ATTEMPTS", "5")

    settings = ProviderSettings()

    assert settings.default_model == "anthropic:claude-sonnet-4-5"
    assert settings.max_attempts == 5
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-from-env-0123456789"
    assert "sk-ant-from-env" not in repr(settings)
    assert "sk-ant-from-env" not in str(settings.model_dump())


def test_the_offline_model_takes_its_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SNAPAGENT_OFFLINE_INLINE_CHARS", "0")
    monkeypatch.setenv("SNAPAGENT_OFFLINE_SENTENCE_CACHE", "7")
    model = ChatModelRegistry(ProviderSettings()).resolve("offline")
    assert isinstance(model, OfflineChatModel)
    assert model.inline_chars == 0
    assert model._answerer.sentence_cache.max_entries == 7


def test_bad_setting_values_are_definition_errors_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SNAPAGENT_LLM_MAX_ATTEMPTS", "zero")
    monkeypatch.setenv("SNAPAGENT_LLM_TIMEOUT_SECONDS", "-1")

    with pytest.raises(DefinitionError) as caught:
        load_provider_settings()

    message = str(caught.value)
    assert "SNAPAGENT_LLM_MAX_ATTEMPTS: Input should be a valid integer" in message
    assert "SNAPAGENT_LLM_TIMEOUT_SECONDS: Input should be greater than 0" in message
    assert "zero" not in message
    assert len(caught.value.details["problems"]) == 2


async def test_each_prefix_resolves_to_its_client(registry: ChatModelRegistry) -> None:
    provider: ChatModelProvider = registry  # the engine's interface
    anthropic_model = provider.resolve("anthropic:claude-sonnet-4-5")
    assert isinstance(anthropic_model, AnthropicChatModel)
    assert anthropic_model.model_id == "anthropic:claude-sonnet-4-5"
    assert isinstance(registry.resolve("openai:gpt-4o-mini"), OpenAIChatModel)
    bedrock = registry.resolve("bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0")
    assert isinstance(bedrock, BedrockChatModel)
    assert bedrock.model_id == "bedrock:anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert isinstance(registry.resolve("offline"), OfflineChatModel)


async def test_clients_are_cached_per_id(registry: ChatModelRegistry) -> None:
    first = registry.resolve("anthropic:claude-a")
    assert registry.resolve(" anthropic:claude-a ") is first
    assert registry.resolve("anthropic:claude-b") is not first
    assert "sk-ant-registry" not in repr(first)


@pytest.mark.parametrize("bad", ["gpt-4", "mistral:large", "anthropic:", "bedrock:  ", ""])
def test_unknown_ids_are_definition_errors_that_list_the_forms(bad: str) -> None:
    settings = ProviderSettings(default_model=bad or "nope")
    with pytest.raises(UnknownModelError, match=r"expected offline, anthropic:<model>") as caught:
        ChatModelRegistry(settings).resolve(bad)
    assert isinstance(caught.value, DefinitionError)


@pytest.mark.parametrize(
    ("model_id", "setting"),
    [
        ("anthropic:claude-x", "ANTHROPIC_API_KEY"),
        ("openai:gpt-x", "OPENAI_API_KEY"),
        ("bedrock:amazon.nova-pro-v1:0", "AWS_BEDROCK_REGION"),
    ],
)
def test_missing_configuration_names_the_setting(model_id: str, setting: str) -> None:
    with pytest.raises(ProviderNotConfiguredError, match=setting) as caught:
        ChatModelRegistry(ProviderSettings()).resolve(model_id)
    assert caught.value.setting == setting
    assert caught.value.provider == model_id.split(":")[0]


async def test_self_hosted_openai_server_needs_no_key() -> None:
    registry = ChatModelRegistry(ProviderSettings(openai_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(registry.resolve("openai:llama3"), OpenAIChatModel)
    await registry.aclose()


def test_split_model_id_keeps_colons_of_bedrock_ids() -> None:
    assert split_model_id("bedrock:anthropic.claude-v2:1") == ("bedrock", "anthropic.claude-v2:1")
    assert split_model_id("OFFLINE") == ("offline", "")


async def test_default_model_comes_from_settings_and_answers() -> None:
    with AnthropicFakeServer() as server:
        server.enqueue(Reply("from the default"))
        settings = ProviderSettings(
            default_model="anthropic:claude-default",
            anthropic_api_key="sk-ant-default-0123456789",
            anthropic_base_url=server.base_url,
        )
        registry = ChatModelRegistry(settings)
        result = await registry.resolve(None).complete(
            ChatRequest(messages=[ChatMessage("user", "hi")])
        )
        await registry.aclose()

    assert result.text == "from the default"
    assert server.requests[0].json()["model"] == "claude-default"
    assert server.requests[0].json()["max_tokens"] == settings.default_max_tokens


async def test_embedding_specs_resolve() -> None:
    registry = EmbeddingRegistry(
        ProviderSettings(openai_api_key="sk-embed-test-0123", aws_bedrock_region="us-east-1")
    )
    openai_model = registry.get("openai:text-embedding-3-small")
    assert isinstance(openai_model, OpenAIEmbeddingModel)
    assert openai_model.dimension == 1536
    titan = registry.get("bedrock:amazon.titan-embed-text-v2:0")
    assert isinstance(titan, BedrockTitanEmbeddingModel)
    assert titan.dimension == 1024
    with pytest.raises(ProviderNotConfiguredError, match="SNAPAGENT_EMBEDDING_DIMENSION"):
        registry.get("openai:some-unknown-embedder")
    with pytest.raises(UnknownModelError, match="local:multilingual-e5-small, local"):
        registry.get("bedrock:cohere.embed-english-v3")
    await registry.aclose()


def test_local_embedding_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = EmbeddingRegistry(
        ProviderSettings(
            embedding_threads=1,
            embedding_batch_threads=2,
            embedding_idle_threads=1,
            embedding_idle_spin_us=0,
        )
    )
    default = registry.get(None)  # resolving loads nothing yet
    assert isinstance(default, MultilingualE5EmbeddingModel)
    assert registry.get(" local:Multilingual-E5-Small ") is default
    assert (default.model_id, default.dimension, default.languages) == (
        "local:multilingual-e5-small",
        384,
        ("multilingual",),
    )
    assert (default.threads, default.batch_threads, default.idle_threads) == (1, 2, 1)
    assert default.idle_spin_us == 0
    with pytest.raises(UnknownModelError, match="unknown local embedding model 'bge-m3'"):
        registry.get("local:bge-m3")
    with pytest.raises(UnknownModelError, match="an embedding model, not a chat model"):
        ChatModelRegistry(ProviderSettings()).resolve("local:multilingual-e5-small")
    # A local model whose package is missing names the install command (nothing is loaded).
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sentence_transformers" else real_find_spec(name, *a),
    )
    for spec in ("local", "local:all-minilm-l6-v2"):
        with pytest.raises(UnavailableError, match=r"pip install 'snapagent\[torch\]'"):
            EmbeddingRegistry(ProviderSettings()).get(spec)
    assert check_local_embedding("multilingual-e5-small") == "multilingual-e5-small"


def test_public_names_are_importable() -> None:
    for name in snapagent.llm.__all__:
        assert getattr(snapagent.llm, name) is not None
    with pytest.raises(AttributeError):
        _ = snapagent.llm.NoSuchThing


def test_history_is_normalised_for_strict_providers() -> None:
    request = ChatRequest(
        messages=[
            ChatMessage("system", "Use the context."),
            ChatMessage("assistant", "Welcome!"),
            ChatMessage("user", "one"),
            ChatMessage("user", "two"),
        ],
        system="Be brief.",
    )
    system, turns = split_system(request, provider="p", model="m")

    assert system == "Be brief.\n\nUse the context."
    assert [(t.role, t.content) for t in turns] == [
        ("user", "(conversation continues)"),
        ("assistant", "Welcome!"),
        ("user", "one\n\ntwo"),
    ]
    with pytest.raises(ProviderBadRequestError, match="user message last"):
        split_system(ChatRequest(messages=[ChatMessage("assistant", "x")]), provider="p", model="m")


def test_importing_the_interfaces_loads_no_sdk() -> None:
    code = (
        "import sys, snapagent.llm, snapagent.llm.embedding, snapagent.llm.errors;"
        "print(sorted(m for m in ('anthropic', 'openai', 'boto3', 'torch') if m in sys.modules))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert completed.stdout.strip() == "[]"
