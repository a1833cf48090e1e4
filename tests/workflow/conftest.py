"""Fixtures for engine tests: a registry with the built-ins plus small function node types."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.nodes import default_registry
from snapagent.testing import (
    InMemoryRetriever,
    ScriptedChatModel,
    ScriptedChatModels,
    function_node_type,
)
from snapagent.workflow import NodeRegistryV2, ServiceContainer, WorkflowExecutorV2

ARCHITECTURE_EXAMPLE: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "start", "title": "Start", "config": {}},
        {
            "id": "kb",
            "type": "knowledge",
            "config": {"knowledge_base_ids": ["kb-1"], "top_k": 4},
            "inputs": {"query": {"selector": ["start", "query"]}},
        },
        {
            "id": "llm",
            "type": "llm",
            "config": {
                "model": "offline",
                "system_prompt": "Answer from the context.",
                "prompt": "Context:\n{{ context }}\n\nQuestion: {{ query }}",
            },
        },
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [
        {"source": "start", "source_port": "query", "target": "llm", "target_port": "query"},
        {"source": "kb", "source_port": "documents", "target": "llm", "target_port": "context"},
        {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"},
    ],
}


@pytest.fixture
def registry() -> NodeRegistryV2:
    reg = default_registry()
    reg.register(
        function_node_type(
            "upper", {"text": "string"}, {"text": "string"}, lambda i: {"text": i["text"].upper()}
        )
    )
    reg.register(
        function_node_type(
            "count", {"text": "string"}, {"n": "integer"}, lambda i: {"n": len(i["text"])}
        )
    )
    return reg


@pytest.fixture
def model() -> ScriptedChatModel:
    return ScriptedChatModel()


@pytest.fixture
def retriever() -> InMemoryRetriever:
    r = InMemoryRetriever()
    r.add("kb-1", "Paris is the capital of France.", title="Geography")
    r.add("kb-1", "Berlin is the capital of Germany.", title="Geography 2")
    r.add("kb-2", "The capital of Italy is Rome.", title="Other")
    return r


@pytest.fixture
def services(model: ScriptedChatModel, retriever: InMemoryRetriever) -> ServiceContainer:
    return ServiceContainer(chat_models=ScriptedChatModels(model), retriever=retriever)


@pytest.fixture
def executor(registry: NodeRegistryV2, services: ServiceContainer) -> WorkflowExecutorV2:
    return WorkflowExecutorV2(registry, services)
