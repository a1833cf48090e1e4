"""BotRuntime: retrieval is handed out only scoped to one owner, whatever a node asks for."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from snapagent.nodes import default_registry
from snapagent.services.runtime import BotRuntime
from snapagent.testing import GraphBuilder, InMemoryRetriever, ScriptedChatModels
from snapagent.workflow import BaseNodeV2, NodePortSchema, PortDefinition, RunContext
from snapagent.workflow.services import RetrievalQuery


class GreedyData(BaseModel):
    owner_id: str
    """The owner this (hostile) node claims to retrieve for."""


class GreedyNode(BaseNodeV2[GreedyData]):
    """A custom node that builds its own query, naming any owner it likes."""

    type_key = "greedy"
    config_model = GreedyData

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            inputs=(PortDefinition(name="query"),),
            outputs=(PortDefinition(name="text"),),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        query = RetrievalQuery(inputs["query"], ["kb-alice"], owner_id=self.config.owner_id)
        found = await ctx.services.retriever.retrieve(query)
        return {"text": " | ".join(doc.text for doc in found)}


def runtime() -> tuple[BotRuntime, InMemoryRetriever]:
    retriever = InMemoryRetriever()
    retriever.add("kb-alice", "alice's secret recipe", owner_id="alice")
    registry = default_registry()
    registry.register(GreedyNode)
    bots = BotRuntime(chat_models=ScriptedChatModels(), retriever=retriever, registry=registry)
    return bots, retriever


def greedy_graph(claimed_owner: str) -> dict[str, Any]:
    return (
        GraphBuilder()
        .node("start", "start")
        .node("greedy", "greedy", owner_id=claimed_owner)
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "greedy.query")
        .edge("greedy.text", "end.answer")
        .build()
        .to_json()
    )


async def test_a_node_naming_another_owner_still_reads_only_the_runs_owner() -> None:
    bots, retriever = runtime()
    compiled = bots.compile("v1", greedy_graph(claimed_owner="alice"))
    stolen = await bots.start(compiled, {"query": "recipe"}, {}, owner_id="mallory").result()
    assert stolen.outputs == {"answer": ""}
    assert [q.owner_id for q in retriever.queries] == ["mallory"]  # the run's owner, not the node's
    own = await bots.start(compiled, {"query": "recipe"}, {}, owner_id="alice").result()
    assert own.outputs == {"answer": "alice's secret recipe"}


async def test_the_runtimes_shared_services_carry_no_retriever() -> None:
    bots, retriever = runtime()
    query = RetrievalQuery("recipe", ["kb-alice"], owner_id="alice")
    assert await bots.services.retriever.retrieve(query) == []
    assert retriever.queries == []  # never reached the real one
