"""Provider SDKs load at a remote model's first call, on a worker thread - never at start-up.

The start-up checks run in a fresh interpreter (this one has long imported every SDK): the CLI,
the app factory and the app's lifespan (everything before the first request) import none of
anthropic, openai, boto3, botocore, mcp or jsonschema, and a first call to an Anthropic model
imports anthropic alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from snapagent.llm.errors import ProviderNotConfiguredError
from snapagent.llm.lazy import DeferredChatModelRegistry, FirstUseChatModel
from snapagent.llm.offline import OfflineChatModel
from snapagent.llm.registry import ChatModelRegistry
from snapagent.llm.settings import ProviderSettings
from snapagent.testing.providers import AnthropicFakeServer, Reply
from snapagent.workflow.services import ChatMessage, ChatModel, ChatRequest

HEAVY = ("anthropic", "openai", "boto3", "botocore", "mcp", "jsonschema")
REQUEST = ChatRequest(messages=[ChatMessage("user", "hi")])

_START_UP = f"""
import asyncio, json, sys
import snapagent.cli
from snapagent.api.app import create_app
from snapagent.llm.errors import ProviderNotConfiguredError
from snapagent.llm.lazy import DeferredChatModelRegistry
from snapagent.testing.providers import AnthropicFakeServer, Reply
from snapagent.workflow.services import ChatMessage, ChatRequest

def loaded():
    return sorted(m for m in {HEAVY!r} if m in sys.modules)

async def serve_briefly():
    app = create_app()
    async with app.router.lifespan_context(app):  # what runs before the first request
        pass

asyncio.run(serve_briefly())
report = {{"start-up": loaded()}}
models = DeferredChatModelRegistry()
model = models.resolve("anthropic:claude-lazy")
models.resolve(None)  # the offline default
report["resolved"] = loaded()
with AnthropicFakeServer() as server:
    server.enqueue(Reply("hello"))
    models.settings.anthropic_base_url = server.base_url
    request = ChatRequest(messages=[ChatMessage("user", "hi")])
    report["answer"] = asyncio.run(model.complete(request)).text
report["first call"] = loaded()
print(json.dumps(report))
"""


def test_start_up_imports_no_provider_sdk_until_a_model_is_called(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SNAPAGENT_DATA_DIR": str(tmp_path),
        "SNAPAGENT_DEFAULT_MODEL": "offline",
        "ANTHROPIC_API_KEY": "sk-ant-lazy-test-0123456789",
    }
    completed = subprocess.run(
        [sys.executable, "-c", _START_UP],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["start-up"] == []
    assert report["resolved"] == []
    assert report["answer"] == "hello"
    assert report["first call"] == ["anthropic"]  # that provider's SDK, not the others


_EMBEDDINGS = f"""
import asyncio, json, sys
from snapagent.llm.registry import EmbeddingRegistry
from snapagent.llm.settings import ProviderSettings
from snapagent.testing.providers import OpenAIFakeServer

def loaded():
    return sorted(m for m in {HEAVY!r} if m in sys.modules)

with OpenAIFakeServer(embedding_dimension=8) as server:
    titan = EmbeddingRegistry(ProviderSettings(aws_bedrock_region="eu-west-1")).get(
        "bedrock:amazon.titan-embed-text-v2:0"
    )
    settings = ProviderSettings(openai_base_url=server.base_url, embedding_dimension=8)
    model = EmbeddingRegistry(settings).get("openai:embed-x")
    report = {{"resolved": loaded()}}
    report["shape"] = list(asyncio.run(model.embed_documents(["a", "b"])).shape)
    report["first call"] = loaded()
print(json.dumps(report))
"""


def test_remote_embedding_models_import_their_sdk_at_the_first_call() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _EMBEDDINGS], capture_output=True, text=True, timeout=180, check=True
    )
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["resolved"] == []  # neither openai nor boto3 for resolving either model
    assert report["shape"] == [2, 8]
    assert report["first call"] == ["openai"]


class _Built:
    """A model whose construction records the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.model = OfflineChatModel()

    def __call__(self) -> ChatModel:
        self.threads.append(threading.current_thread())
        return self.model


async def test_the_client_is_built_once_on_a_worker_thread() -> None:
    built = _Built()
    model = FirstUseChatModel("anthropic:claude-x", built)
    assert model.model_id == "anthropic:claude-x"
    assert built.threads == []  # resolving builds nothing

    first = await model.complete(REQUEST)
    chunks = [chunk async for chunk in model.stream(REQUEST)]

    assert first.text == (await built.model.complete(REQUEST)).text
    assert "".join(chunk.text or "" for chunk in chunks) == first.text
    assert len(built.threads) == 1
    assert built.threads[0] is not threading.main_thread()  # never on the event loop


async def test_stand_ins_are_shared_per_model_and_check_settings() -> None:
    models = DeferredChatModelRegistry(ProviderSettings(anthropic_api_key="sk-ant-x-0123456789"))
    first = models.resolve("anthropic:claude-a")
    assert isinstance(first, FirstUseChatModel)
    assert models.resolve(" anthropic:claude-a ") is first
    assert models.resolve("anthropic:claude-b") is not first
    assert isinstance(models.resolve("offline"), OfflineChatModel)
    with pytest.raises(ProviderNotConfiguredError, match="OPENAI_API_KEY"):
        models.resolve("openai:gpt-x")  # at resolve, as before: not at the first call
    await models.aclose()


async def test_concurrent_first_calls_share_one_client() -> None:
    with AnthropicFakeServer() as server:
        server.enqueue(Reply("one"), Reply("two"))
        settings = ProviderSettings(
            anthropic_api_key="sk-ant-x-0123456789", anthropic_base_url=server.base_url
        )
        models = DeferredChatModelRegistry(settings)
        model = models.resolve("anthropic:claude-a")
        answers = await asyncio.gather(model.complete(REQUEST), model.complete(REQUEST))
        await models.aclose()
    assert sorted(answer.text for answer in answers) == ["one", "two"]


def test_a_slow_client_creation_holds_up_only_its_own_id(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ChatModelRegistry(ProviderSettings(anthropic_api_key="sk-ant-x-0123456789"))
    create = registry._create
    release, events = threading.Event(), []

    def slow_create(provider: str, name: str) -> ChatModel:
        if provider == "anthropic":  # as if importing its SDK took a while
            events.append("creating")
            release.wait(30)
            events.append("created")
        return create(provider, name)

    monkeypatch.setattr(registry, "_create", slow_create)
    resolving = [
        threading.Thread(target=registry.resolve, args=("anthropic:claude-a",)) for _ in range(2)
    ]
    for thread in resolving:
        thread.start()
    while not events:
        time.sleep(0.01)

    assert isinstance(registry.resolve("offline"), OfflineChatModel)  # no wait for anthropic
    assert events == ["creating"]
    release.set()
    for thread in resolving:
        thread.join(30)
    assert events == ["creating", "created"]  # created once for both callers
