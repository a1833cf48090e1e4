"""The knowledge and LLM nodes, through the scripted model and the in-memory retriever."""

from __future__ import annotations

import pytest

from snapagent.errors import NodeExecutionError, ProviderError
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import NodeResult, PortType, ServiceContainer
from snapagent.workflow.services import RetrievalQuery

from .conftest import context, make_node


async def test_knowledge_queries_the_retriever_with_its_config(
    services: ServiceContainer, retriever: InMemoryRetriever
) -> None:
    node = make_node(
        "knowledge", knowledge_base_ids=["kb-1"], top_k=1, score_threshold=0.3, mode="keyword"
    )
    schema = node.port_schema()
    assert schema.output("documents").type is PortType.DOCUMENTS  # type: ignore[union-attr]
    out = await node.run({"query": "capital of France"}, context(services, sys={"owner_id": "u1"}))
    assert retriever.queries == [
        RetrievalQuery("capital of France", ("kb-1",), 1, 0.3, "keyword", None, owner_id="u1")
    ]
    (doc,) = out["documents"]
    assert doc["document_title"] == "France"
    assert doc["knowledge_base_id"] == "kb-1"
    assert set(doc) >= {"text", "score", "document_id", "chunk_id", "metadata"}


async def test_knowledge_rejects_a_non_text_query(services: ServiceContainer) -> None:
    node = make_node("knowledge", knowledge_base_ids=["kb-1"])
    with pytest.raises(NodeExecutionError, match="query must be text"):
        await node.run({"query": ["a"]}, context(services))


DOCS = [
    {
        "text": "Paris is the capital.",
        "score": 0.9,
        "document_id": "d1",
        "document_title": "France",
        "knowledge_base_id": "kb-1",
    }
]


async def test_llm_builds_the_request_and_streams(
    services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue("The capital is Paris.", chunk_size=6)
    node = make_node(
        "llm",
        system_prompt="Be brief. Sources:\n{{ context }}",
        prompt="Question: {{ query }}",
        temperature=0.1,
        max_tokens=50,
        stop=["\n\n"],
    )
    assert [p.name for p in node.port_schema().inputs] == ["context", "query", "history"]
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    chunks: list[tuple[str, str]] = []
    result = await node.run(
        {"context": DOCS, "query": "capital of {{ 7*7 }}?", "history": history},
        context(services, chunks=chunks),
    )
    assert isinstance(result, NodeResult)
    assert result.outputs["text"] == "The capital is Paris."
    assert "".join(text for _node, text in chunks) == "The capital is Paris."
    assert len(chunks) == 4
    assert all(node_id == "n" for node_id, _ in chunks)
    (request,) = model.requests
    assert request.system == "Be brief. Sources:\n[1] France\nParis is the capital."
    assert [(m.role, m.content) for m in request.messages] == [
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "Question: capital of {{ 7*7 }}?"),
    ]
    assert request.query == "capital of {{ 7*7 }}?"
    assert [d.document_id for d in request.documents] == ["d1"]
    assert (request.temperature, request.max_tokens, tuple(request.stop)) == (0.1, 50, ("\n\n",))
    assert result.usage is not None
    assert result.usage.output_tokens == 4
    assert result.outputs["usage"] == result.usage.to_dict()


async def test_llm_uses_run_history_when_no_history_is_wired(
    services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue("ok").enqueue("ok")
    run_history = [{"role": "user", "content": "earlier"}]
    await make_node("llm").run({"query": "now"}, context(services, {"history": run_history}))
    await make_node("llm", use_run_history=False).run(
        {"query": "now"}, context(services, {"history": run_history})
    )
    assert [m.content for m in model.requests[0].messages] == ["earlier", "now"]
    assert [m.content for m in model.requests[1].messages] == ["now"]


async def test_llm_rejects_malformed_history(services: ServiceContainer) -> None:
    with pytest.raises(NodeExecutionError, match=r"history\[0\]"):
        await make_node("llm").run({"query": "q", "history": [{"role": "bot"}]}, context(services))


@pytest.mark.parametrize(
    ("configured", "default_model", "expected"),
    [("claude", "bot-model", "claude"), (None, "bot-model", "bot-model"), (None, None, None)],
)
async def test_llm_model_choice(
    services: ServiceContainer,
    provider: ScriptedChatModels,
    model: ScriptedChatModel,
    configured: str | None,
    default_model: str | None,
    expected: str | None,
) -> None:
    model.enqueue("x")
    config = {"model": configured} if configured else {}
    sys = {"default_model": default_model} if default_model else {}
    await make_node("llm", **config).run({"query": "q"}, context(services, sys=sys))
    assert provider.resolved == [expected]


async def test_llm_provider_errors_propagate(
    services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_error(ProviderError("overloaded", provider="scripted", status_code=529))
    with pytest.raises(ProviderError, match="overloaded"):
        await make_node("llm").run({"query": "q"}, context(services))
