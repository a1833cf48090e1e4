"""`NodeAdapter`: V1 nodes running inside `WorkflowExecutorV2`, sharing one implicit context.

A V1 graph is run by the V2 engine as a chain in the legacy execution order::

    start -> [v1_knowledge n2] -> [v1_llm n3] -> end      (state flows adapter to adapter)

The start and end nodes are the V2 ones (they never carried V1 behaviour). Every other V1
node becomes a `NodeAdapter`: it reads ``query``/``history`` from the start node, receives the
implicit context (``state``: ``context`` and ``response``) from the adapter before it, runs the
V2 node type configured exactly as the converter configures it, and hands the updated context
on. The end node answers with the last ``response``. A V1 run is therefore recorded like any
other run, node by node, with the V1 node ids.

    graph, registry = prepare_v1_run(bot.workflow)
    result = await WorkflowExecutorV2(registry, services).run(graph, {"query": "hi"}, sys)
    result.outputs["answer"]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

from pydantic import BaseModel, ConfigDict, Field

from snapagent.errors import DefinitionError
from snapagent.legacy.schema import V1NodeModel, V1Workflow
from snapagent.legacy.semantics import ANSWER_OUTPUT, v2_config, writes
from snapagent.legacy.validation import execution_order, load_v1_workflow
from snapagent.workflow import (
    BaseNodeV2,
    NodePortSchema,
    NodeRegistryV2,
    NodeResult,
    PortDefinition,
    RunContext,
    WorkflowGraph,
)
from snapagent.workflow.types import PortType

__all__ = [
    "V1_ENGINE",
    "NodeAdapter",
    "NodeAdapterData",
    "V1KnowledgeAdapter",
    "V1LLMAdapter",
    "legacy_registry",
    "prepare_v1_run",
    "v1_adapter_graph",
]

V1_ENGINE: Final = "v1"
_STATE: Final = "state"
_RESPONSE: Final = "response"


class NodeAdapterData(BaseModel):
    """An adapter's config: the V1 node's ``data`` and whether a knowledge node ran before it
    (which decides the legacy prompt, exactly as in the converter)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: dict[str, Any] = Field(default_factory=dict)
    has_context: bool = False


class NodeAdapter(BaseNodeV2[NodeAdapterData]):
    """Runs one V1 node through the V2 node type that replaces it (``v1_type``).

    Subclasses name the V1 type; the wrapped V2 node comes from the registry that built the
    adapter (:func:`legacy_registry`), so a V1 bot uses the same model and retriever code as V2.
    """

    v1_type: ClassVar[str]
    inner_registry: ClassVar[NodeRegistryV2 | None] = None

    def __init__(self, node_id: str, config: NodeAdapterData) -> None:
        super().__init__(node_id, config)
        registry = self.inner_registry
        if registry is None:
            raise DefinitionError("NodeAdapter types must come from legacy_registry()")
        v1_node = V1NodeModel(id=node_id, type=self.v1_type, data=config.data)
        v2 = v2_config(v1_node, has_context=config.has_context)
        self.inner = None if self.is_noop(v2) else registry.create(node_id, self.v1_type, v2)
        self._inner_inputs = (
            {p.name for p in self.inner.port_schema().inputs} if self.inner else set()
        )

    def is_noop(self, v2_config: Mapping[str, Any]) -> bool:
        """True when the V1 node did nothing the V2 node type can express (see subclasses)."""
        return False

    async def run_inner(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        assert self.inner is not None
        produced = await self.inner.run(inputs, ctx)
        return produced if isinstance(produced, NodeResult) else NodeResult(outputs=produced)

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            inputs=(
                PortDefinition(name="query", type=PortType.STRING),
                PortDefinition(name="history", type=PortType.MESSAGES, required=False, default=[]),
                PortDefinition(name=_STATE, type=PortType.OBJECT, required=False, default={}),
            ),
            outputs=(
                PortDefinition(
                    name=_STATE,
                    type=PortType.OBJECT,
                    description="the implicit V1 context after this node",
                ),
                PortDefinition(
                    name=_RESPONSE,
                    type=PortType.STRING,
                    description="the latest response in the context",
                ),
            ),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        state: Mapping[str, Any] = inputs.get(_STATE) or {}
        context = {"query": inputs["query"], "history": inputs.get("history") or [], **state}
        inner_inputs = {k: v for k, v in context.items() if k in self._inner_inputs}
        result = await self.run_inner(inner_inputs, ctx)
        new_state = dict(state)
        for key, port in writes(self.v1_type).items():
            new_state[key] = result.outputs[port]
        return NodeResult(
            outputs={_STATE: new_state, _RESPONSE: new_state.get("response", "")},
            usage=result.usage,
        )


class V1KnowledgeAdapter(NodeAdapter):
    """A V1 ``knowledge`` node: writes the retrieved ``context``."""

    type_key = "v1_knowledge"
    v1_type = "knowledge"
    config_model = NodeAdapterData
    description = "A legacy (V1) knowledge node run through the V2 knowledge node."

    def is_noop(self, v2_config: Mapping[str, Any]) -> bool:
        # V1 accepted a knowledge node without knowledge bases (it retrieved nothing); V2
        # refuses that config, so the adapter keeps the legacy behaviour itself.
        return not v2_config.get("knowledge_base_ids")

    async def run_inner(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        if self.inner is None:
            return NodeResult(outputs={"documents": []})
        return await super().run_inner(inputs, ctx)


class V1LLMAdapter(NodeAdapter):
    """A V1 ``llm`` node: writes the ``response``."""

    type_key = "v1_llm"
    v1_type = "llm"
    config_model = NodeAdapterData
    description = "A legacy (V1) llm node run through the V2 llm node."


def legacy_registry(base: NodeRegistryV2 | None = None) -> NodeRegistryV2:
    """A new, frozen registry: ``base``'s types (default: the built-in ones) plus the V1
    adapters, which wrap ``base``'s own knowledge and llm types.

    ``base`` itself is never changed, so the registry that validates V2 drafts never learns
    the ``v1_*`` types: an app builds this once at start-up, beside its V2 registry.
    """
    from snapagent.nodes import default_registry

    inner = base or default_registry()
    registry = inner.copy()
    for adapter in (V1KnowledgeAdapter, V1LLMAdapter):
        registry.register(type(adapter.__name__, (adapter,), {"inner_registry": inner}))
    return registry.freeze()


def v1_adapter_graph(v1: V1Workflow | Mapping[str, Any]) -> WorkflowGraph:
    """The V2 graph that runs a V1 workflow through adapters (validated V1 first)."""
    workflow = v1 if isinstance(v1, V1Workflow) else load_v1_workflow(v1)
    order = execution_order(workflow)
    start = order[0].id
    from_start = {
        "query": {"selector": [start, "query"]},
        "history": {"selector": [start, "history"]},
    }
    nodes: list[dict[str, Any]] = [{"id": start, "type": "start", "config": {}}]
    edges: list[dict[str, Any]] = []
    previous: str | None = None
    has_context = False
    for node in order[1:]:
        if node.type == "end":
            edges.append(
                {
                    "source": previous,
                    "source_port": _RESPONSE,
                    "target": node.id,
                    "target_port": ANSWER_OUTPUT,
                }
            )
            nodes.append({"id": node.id, "type": "end", "config": {"outputs": [ANSWER_OUTPUT]}})
            continue  # a V1 node ordered after the end still ran; the chain goes on past it
        nodes.append(
            {
                "id": node.id,
                "type": f"v1_{node.type}",
                "title": node.type,
                "config": {"data": node.data, "has_context": has_context},
                "inputs": from_start,
            }
        )
        if previous is not None:
            edges.append(
                {
                    "source": previous,
                    "source_port": _STATE,
                    "target": node.id,
                    "target_port": _STATE,
                }
            )
        previous = node.id
        has_context = has_context or "context" in writes(node.type)
    return WorkflowGraph.model_validate({"nodes": nodes, "edges": edges})


def prepare_v1_run(v1: V1Workflow | Mapping[str, Any]) -> tuple[WorkflowGraph, NodeRegistryV2]:
    """What ChatService needs to run a V1 bot: the adapter graph and the registry for it."""
    return v1_adapter_graph(v1), legacy_registry()
