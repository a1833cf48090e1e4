"""Fakes and factories for tests: a scripted chat model, an in-memory retriever, graph builders.

    model = ScriptedChatModel().enqueue("Hello!")
    retriever = InMemoryRetriever()
    retriever.add("kb", "SnapAgent runs graphs.", title="Intro")
    services = ServiceContainer(chat_models=ScriptedChatModels(model), retriever=retriever)
    result = await WorkflowExecutorV2(default_registry(), services).run(rag_graph(["kb"]), {...})

Fake provider *servers* (HTTP) live in `snapagent.testing.providers`.
"""

from __future__ import annotations

from snapagent.testing.chat import ScriptedChatModel, ScriptedChatModels, ScriptedReply
from snapagent.testing.graphs import GraphBuilder, function_node_type, rag_graph
from snapagent.testing.retriever import InMemoryRetriever

__all__ = [
    "GraphBuilder",
    "InMemoryRetriever",
    "ScriptedChatModel",
    "ScriptedChatModels",
    "ScriptedReply",
    "function_node_type",
    "rag_graph",
]
