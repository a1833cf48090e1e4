"""Helpers to run one node directly (no graph) with a scripted model and in-memory retriever."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.nodes import default_registry
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import BaseNodeV2, RunContext, ServiceContainer

from .agent_support import local_server, node_settings  # noqa: F401 (fixtures of the agent tests)


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def provider(model: ScriptedChatModel) -> ScriptedChatModels:
    return ScriptedChatModels(model)


@pytest.fixture
def retriever() -> InMemoryRetriever:
    r = InMemoryRetriever()
    r.add("kb-1", "Paris is the capital of France.", title="France")
    r.add("kb-1", "Rivers of France include the Seine.", title="Rivers")
    r.add("kb-2", "Paris Hilton is a celebrity.", title="People")
    return r


@pytest.fixture
def services(provider: ScriptedChatModels, retriever: InMemoryRetriever) -> ServiceContainer:
    return ServiceContainer(chat_models=provider, retriever=retriever)


def make_node(type_key: str, **config: Any) -> BaseNodeV2[Any]:
    return default_registry().create("n", type_key, config)


def context(
    services: ServiceContainer,
    inputs: dict[str, Any] | None = None,
    sys: dict[str, Any] | None = None,
    chunks: list[tuple[str, str]] | None = None,
) -> RunContext:
    sink = (lambda node_id, text: chunks.append((node_id, text))) if chunks is not None else None
    return RunContext(services, inputs or {}, sys or {}, sink)
