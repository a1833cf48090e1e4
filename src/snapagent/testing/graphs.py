"""Small factories for graphs and node types in tests.

graph = (
    GraphBuilder()
    .node("start", "start")
    .node("up", "upper")
    .node("end", "end", outputs=["answer"])
    .edge("start.query", "up.text")
    .edge("up.text", "end.answer")
    .build()
)
Upper = function_node_type("upper", {"text": "string"}, {"text": "string"},
                           lambda inputs: {"text": inputs["text"].upper()})
registry = default_registry(); registry.register(Upper)
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from snapagent.workflow.node import BaseNodeV2, NodeResult, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition, WorkflowGraph
from snapagent.workflow.types import PortType

__all__ = ["GraphBuilder", "function_node_type", "rag_graph"]

NodeFunction = Callable[[dict[str, Any]], "Mapping[str, Any] | NodeResult | Awaitable[Any]"]


class _AnyConfig(BaseModel):
    model_config = ConfigDict(extra="allow")


def function_node_type(
    type_key: str,
    inputs: Mapping[str, str],
    outputs: Mapping[str, str],
    fn: NodeFunction,
    *,
    branches: Sequence[str] = (),
    optional_inputs: Sequence[str] = (),
) -> type[BaseNodeV2[Any]]:
    """A node type whose ``run`` calls ``fn(inputs)`` (sync or async; it may also take
    ``(inputs, ctx, node_id)`` when it declares three parameters)."""
    wants_ctx = len(inspect.signature(fn).parameters) == 3
    schema = NodePortSchema(
        inputs=tuple(
            PortDefinition(name=n, type=PortType(t), required=n not in optional_inputs)
            for n, t in inputs.items()
        ),
        outputs=tuple(PortDefinition(name=n, type=PortType(t)) for n, t in outputs.items()),
        branches=tuple(branches),
    )

    class FunctionNode(BaseNodeV2[_AnyConfig]):
        config_model = _AnyConfig

        def port_schema(self) -> NodePortSchema:
            return schema

        async def run(self, inputs: dict[str, Any], ctx: RunContext) -> Any:
            call: Any = fn
            result = call(inputs, ctx, self.node_id) if wants_ctx else call(inputs)
            if inspect.isawaitable(result):
                result = await result
            return result

    FunctionNode.type_key = type_key
    FunctionNode.__name__ = FunctionNode.__qualname__ = f"FunctionNode_{type_key}"
    return FunctionNode


def _port_ref(ref: str) -> tuple[str, str | None]:
    node, _, port = ref.partition(".")
    return node, port or None


class GraphBuilder:
    """Builds `WorkflowGraph`s tersely: ``.edge("a.text", "b.prompt")``, ``.edge("if.true", "b")``
    (control), ``.node("b", "template", template="{{ x }}", inputs={"x": ["a", "text"]})``."""

    def __init__(self) -> None:
        self._nodes: list[dict[str, Any]] = []
        self._edges: list[dict[str, Any]] = []

    def node(
        self,
        node_id: str,
        node_type: str,
        *,
        inputs: Mapping[str, Sequence[str | int]] | None = None,
        settings: Mapping[str, Any] | None = None,
        **config: Any,
    ) -> GraphBuilder:
        """``settings`` are node-level keys (``timeout_s``, ``retry``, ``error_strategy``...)."""
        data: dict[str, Any] = {"id": node_id, "type": node_type, "config": dict(config)}
        if inputs:
            data["inputs"] = {port: {"selector": list(sel)} for port, sel in inputs.items()}
        data.update(settings or {})
        self._nodes.append(data)
        return self

    def edge(self, source: str, target: str) -> GraphBuilder:
        src, src_port = _port_ref(source)
        dst, dst_port = _port_ref(target)
        edge: dict[str, Any] = {"source": src, "target": dst}
        if src_port:
            edge["source_port"] = src_port
        if dst_port:
            edge["target_port"] = dst_port
        self._edges.append(edge)
        return self

    def to_json(self) -> dict[str, Any]:
        return {"nodes": list(self._nodes), "edges": list(self._edges)}

    def build(self) -> WorkflowGraph:
        return WorkflowGraph.from_json(self.to_json())


def rag_graph(
    knowledge_base_ids: Sequence[str] = ("kb",),
    *,
    model: str | None = None,
    top_k: int = 4,
    prompt: str = "Context:\n{{ context }}\n\nQuestion: {{ query }}",
) -> WorkflowGraph:
    """The ARCHITECTURE.md pipeline: start -> knowledge -> llm -> end (``answer``)."""
    llm_config: dict[str, Any] = {"system_prompt": "Answer from the context.", "prompt": prompt}
    if model is not None:
        llm_config["model"] = model
    return (
        GraphBuilder()
        .node("start", "start")
        .node(
            "kb",
            "knowledge",
            inputs={"query": ["start", "query"]},
            knowledge_base_ids=list(knowledge_base_ids),
            top_k=top_k,
        )
        .node("llm", "llm", **llm_config)
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "llm.query")
        .edge("kb.documents", "llm.context")
        .edge("llm.text", "end.answer")
        .build()
    )
