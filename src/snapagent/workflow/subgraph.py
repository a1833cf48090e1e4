"""Sub-graphs: nodes that run a nested graph (``iteration``, ``loop``).

A container node keeps its body in its config (``config.graph``: nodes and edges, the same
JSON as a workflow, with no start or end node). Body nodes read

- the container's scope values by selector on the container's id (``["each", "item"]``,
  ``["each", "index"]``, a loop's variables),
- any node upstream of the container (``["start", "query"]``), ``sys`` values, and the scope
  values of enclosing containers.

Validation checks a body like a graph (every problem, with its full path:
``nodes[3].config.graph.nodes[1].config.prompt``); reads of outer nodes make the container
depend on them. The body is compiled once with the graph; each run of it (an item, a round) is
a run of that plan inside the outer run, sharing its step count, deadline and cancellation,
and recorded under the container with its scope (``[["each", 2]]``).

    class EachNode(SubgraphNode[EachData]):
        def scope_ports(self) -> tuple[PortDefinition, ...]:
            return (PortDefinition(name="item"), PortDefinition(name="index", type="integer"))
        async def run(self, inputs, ctx):
            result = await ctx.run_body(self, {"item": 1, "index": 0}, iteration=0)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel

from snapagent.workflow.conversation import ConversationVariable
from snapagent.workflow.node import BaseNodeV2, ResourceRef
from snapagent.workflow.schema import NodePortSchema, PortDefinition, ValueSelector, WorkflowGraph

if TYPE_CHECKING:
    from snapagent.workflow.plan import ExecutionPlan
    from snapagent.workflow.validation import GraphAnalysis

__all__ = ["DEFAULT_MAX_DEPTH", "Scope", "SubgraphNode"]

ConfigT = TypeVar("ConfigT", bound=BaseModel)

DEFAULT_MAX_DEPTH = 3
"""How deep containers may nest unless a node type says otherwise."""


@dataclass(frozen=True, slots=True)
class Scope:
    """What a body sees from outside: its container's scope ports and the outer nodes.

    ``outer`` maps every node visible from the body (the container's graph, enclosing scopes)
    to its ports; ``outer_ids`` are all ids in use outside (a body may not reuse one).
    ``open`` accepts reads of unknown nodes (describing a config with no graph around it).
    """

    container_id: str
    ports: NodePortSchema
    outer: Mapping[str, NodePortSchema]
    outer_ids: frozenset[str]
    depth: int
    open: bool = False
    conversation: Mapping[str, ConversationVariable] = field(default_factory=dict)
    """The document's conversation variables (a body reads them like the workflow does)."""

    def source(self, node_id: str) -> NodePortSchema | None:
        """The ports a body can read from ``node_id`` when it is outside the body."""
        if node_id == self.container_id:
            return self.ports
        return self.outer.get(node_id)


class SubgraphNode(BaseNodeV2[ConfigT]):
    """Base of container nodes. Validation analyses the body (`attach_analysis`) before
    asking for the ports, and compiling attaches the body's plan (`attach_plan`)."""

    body_field: ClassVar[str] = "graph"
    """The config field holding the body (problem paths go through it)."""

    def __init__(self, node_id: str, config: ConfigT) -> None:
        super().__init__(node_id, config)
        self.body_analysis: GraphAnalysis | None = None
        self.body_plan: ExecutionPlan | None = None

    @classmethod
    def resources(cls, config: Mapping[str, Any]) -> list[ResourceRef]:
        """The container's own references; its body's nodes are searched one by one by
        whoever walks the graph (each with its own type's rules and its full path)."""
        return super().resources({k: v for k, v in config.items() if k != cls.body_field})

    def body_graph(self) -> WorkflowGraph:
        graph = getattr(self.config, self.body_field)
        assert isinstance(graph, WorkflowGraph)
        return graph

    @abstractmethod
    def scope_ports(self) -> tuple[PortDefinition, ...]:
        """The values body nodes read by selector on this node's id."""

    def max_depth(self) -> int:
        """How deep containers may nest around and inside this one."""
        return DEFAULT_MAX_DEPTH

    def attach_analysis(self, analysis: GraphAnalysis) -> None:
        self.body_analysis = analysis

    def attach_plan(self, plan: ExecutionPlan) -> None:
        self.body_plan = plan

    def body_port(self, selector: ValueSelector) -> PortDefinition | None:
        """The port of a body node that ``selector`` names (None when unknown or not yet
        analysed). A nested path makes the type unknowable: the port is then ``any``."""
        analysis = self.body_analysis
        if analysis is None:
            return None
        schema = analysis.schemas.get(selector.node_id)
        port = schema.output(selector.port) if schema is not None else None
        if port is None or not selector.path:
            return port
        return PortDefinition(name=port.name)
