"""NodeAdapter: a V1 bot run through the V2 engine answers exactly as its migrated V2 draft."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from snapagent.errors import DefinitionError
from snapagent.legacy import LegacyWorkflowError
from snapagent.legacy.adapter import legacy_registry, prepare_v1_run, v1_adapter_graph
from snapagent.legacy.converter import convert_v1_to_v2_json
from snapagent.legacy.samples import V2_INCOMPATIBLE, chat_only_workflow, rag_workflow
from snapagent.nodes import default_registry
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import (
    NodeRegistryV2,
    ServiceContainer,
    TextChunk,
    WorkflowExecutorV2,
    WorkflowGraph,
    WorkflowRunResult,
)
from snapagent.workflow.services import ChatRequest

HISTORY = [
    {"role": "user", "content": "안녕하세요"},
    {"role": "assistant", "content": "무엇을 도와드릴까요?"},
]
QUESTION = "How do I reset my password? {{ 7*7 }}"


@dataclass
class Outcome:
    result: WorkflowRunResult
    requests: list[ChatRequest]
    resolved: list[str | None]
    retrieval_kbs: list[tuple[str, ...]]


def services() -> tuple[ServiceContainer, ScriptedChatModels, InMemoryRetriever]:
    retriever = InMemoryRetriever()
    retriever.add("kb-1", "To reset your password open Settings.", title="Password help")
    retriever.add("kb-1", "Billing happens monthly.", title="Billing")
    retriever.add("kb-2", "Reset the password from the login page.", title="비밀번호")
    model = ScriptedChatModel(default_reply="Open Settings, then Reset password.")
    provider = ScriptedChatModels(model)
    return ServiceContainer(chat_models=provider, retriever=retriever), provider, retriever


async def run(graph: WorkflowGraph, registry: NodeRegistryV2) -> Outcome:
    svc, provider, retriever = services()
    result = await WorkflowExecutorV2(registry, svc).run(
        graph,
        {"query": QUESTION, "history": HISTORY, "session_id": "s1"},
        {"default_model": "bot-default"},
    )
    queried = [tuple(q.knowledge_base_ids) for q in retriever.queries]
    return Outcome(result, provider.default.requests, provider.resolved, queried)


async def run_v1(v1: dict[str, Any]) -> Outcome:
    """The bot before migration: its V1 graph through NodeAdapter."""
    return await run(*prepare_v1_run(v1))


async def run_migrated(v1: dict[str, Any]) -> Outcome:
    """The bot after migration: the converted V2 draft on the plain V2 registry."""
    return await run(WorkflowGraph.model_validate(convert_v1_to_v2_json(v1)), default_registry())


CASES = {
    "rag": rag_workflow(
        kb_ids=["kb-1", "kb-2"],
        top_k=2,
        model="claude",
        system_prompt="Answer from {{ the }} context.\n",
        temperature=0.3,
    ),
    "rag_defaults": rag_workflow(model=None, system_prompt=None, temperature=None),
    "chat_only": chat_only_workflow(system_prompt="한국어로 짧게 답하세요."),
    "two_llms": {
        "nodes": [
            {"id": "s", "type": "start"},
            {"id": "k", "type": "knowledge", "data": {"knowledge_base_ids": ["kb-1"]}},
            {"id": "a", "type": "llm", "data": {"system_prompt": "draft"}},
            {"id": "b", "type": "llm", "data": {"system_prompt": "polish", "max_tokens": 50}},
            {"id": "e", "type": "end"},
        ],
        "edges": [
            {"source": "s", "target": "k"},
            {"source": "k", "target": "a"},
            {"source": "a", "target": "b"},
            {"source": "b", "target": "e"},
        ],
    },
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_v1_and_migrated_v2_send_the_same_requests_and_answer_the_same(name: str) -> None:
    before = await run_v1(CASES[name])
    after = await run_migrated(CASES[name])
    assert before.result.status == after.result.status == "succeeded", before.result.error
    assert before.result.outputs == after.result.outputs
    assert before.result.outputs["answer"] == "Open Settings, then Reset password."
    assert before.requests == after.requests
    assert before.resolved == after.resolved
    assert before.retrieval_kbs == after.retrieval_kbs


async def test_the_v1_request_carries_the_legacy_prompt_settings_and_history() -> None:
    outcome = await run_v1(CASES["rag"])
    (request,) = outcome.requests
    assert request.system == "Answer from {{ the }} context.\n"  # plain text, as in V1
    assert request.temperature == 0.3
    assert [m.content for m in request.messages[:2]] == ["안녕하세요", "무엇을 도와드릴까요?"]
    user_turn = request.messages[-1].content
    assert user_turn.startswith("Context:\n")
    assert user_turn.endswith(f"Question: {QUESTION}")  # the user's braces stay literal
    assert "To reset your password open Settings." in user_turn
    assert [d.document_title for d in request.documents] == ["Password help", "비밀번호"]
    assert outcome.resolved == ["claude"]


async def test_bot_default_model_applies_when_v1_named_none() -> None:
    outcome = await run_v1(CASES["rag_defaults"])
    assert outcome.resolved == ["bot-default"]


async def test_a_v1_run_is_recorded_node_by_node_with_v1_ids() -> None:
    result = (await run_v1(CASES["rag"])).result
    ordered = [(n.node_id, n.node_type, n.status) for n in result.ordered_nodes()]
    assert ordered == [
        ("n1", "start", "succeeded"),
        ("n2", "v1_knowledge", "succeeded"),
        ("n3", "v1_llm", "succeeded"),
        ("n4", "end", "succeeded"),
    ]
    assert result.usage.total_tokens > 0


async def test_v1_runs_stream_text_chunks() -> None:
    svc, _, _ = services()
    graph, registry = prepare_v1_run(CASES["chat_only"])
    chunks = [
        e.text
        async for e in WorkflowExecutorV2(registry, svc).stream(graph, {"query": "hi"}, {})
        if isinstance(e, TextChunk)
    ]
    assert len(chunks) > 1
    assert "".join(chunks) == "Open Settings, then Reset password."


async def test_knowledge_node_without_bases_keeps_working_in_v1() -> None:
    outcome = await run_v1(V2_INCOMPATIBLE["knowledge_without_bases"]())
    assert outcome.result.status == "succeeded"
    assert outcome.retrieval_kbs == []  # nothing to search, as in V1
    assert outcome.requests[0].messages[-1].content.startswith("Context:\n")


def test_invalid_v1_graphs_are_refused_before_running() -> None:
    with pytest.raises(LegacyWorkflowError):
        v1_adapter_graph({"nodes": [], "edges": []})


def test_the_legacy_registry_is_a_frozen_copy_and_never_changes_the_v2_registry() -> None:
    v2 = default_registry().freeze()
    legacy = legacy_registry(v2)
    assert {"v1_knowledge", "v1_llm"} <= set(legacy.type_keys)
    assert not {"v1_knowledge", "v1_llm"} & set(v2.type_keys)  # drafts never see the adapters
    assert set(v2.type_keys) < set(legacy.type_keys)
    assert legacy_registry(v2) is not legacy  # each call builds its own (apps build one)
    for frozen in (v2, legacy):
        with pytest.raises(DefinitionError, match="frozen"):
            frozen.register(type(legacy.get("v1_llm")))  # type: ignore[arg-type]
