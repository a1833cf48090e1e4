"""`LoopNodeV2`: run a sub-graph round after round, carrying ``loop_variables``, until a break
condition holds or ``max_iterations`` rounds ran.

    {"id": "refine", "type": "loop",
     "config": {"graph": {"nodes": [
                  {"id": "improve", "type": "llm",
                   "config": {"prompt": "Improve this draft: {{ draft }}"},
                   "inputs": {"draft": {"selector": ["refine", "draft"]}}}], "edges": []},
                "loop_variables": [{"name": "draft", "type": "string", "default": ""}],
                "updates": {"draft": ["improve", "text"]},
                "break_conditions": [{"input": "index", "operator": "greater_or_equal",
                                      "value": 3}],
                "max_iterations": 5},
     "inputs": {"draft": {"selector": ["start", "query"]}}}

Each loop variable is an input (its initial value; the default when nothing is wired) and an
output (its value after the last round). Body nodes read ``["refine", <variable>]`` and
``["refine", "index"]`` (the round, from 0). After each round, ``updates`` gives variables
their new values from the body (checked against their types); the others keep theirs.
Before each round the break conditions (``if_else`` conditions over the variables and
``index``; ``logic`` and/or) are tested: when they hold, the loop ends - so ``index >= 3``
runs three rounds. A failing round fails the node (its error strategy applies). Outputs: the
variables and ``rounds``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snapagent.errors import DefinitionError, NodeExecutionError
from snapagent.nodes.containers import body_failure, body_output_port, body_value
from snapagent.nodes.if_else import Condition
from snapagent.nodes.settings import get_node_settings
from snapagent.workflow.node import NodeResult, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition, ValueSelector, WorkflowGraph
from snapagent.workflow.services import TokenUsage
from snapagent.workflow.subgraph import SubgraphNode
from snapagent.workflow.types import PortType
from snapagent.workflow.values import coerce_value

__all__ = ["LoopNodeData", "LoopNodeV2", "LoopVariable"]

INDEX = "index"
ROUNDS = "rounds"


class LoopVariable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[^\W\d]\w*$", max_length=64, description="Its port name.")
    type: PortType = Field(default=PortType.ANY, description="The type its values must have.")
    default: Any = Field(default=None, description="Its value before the first round.")


class LoopNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graph: WorkflowGraph = Field(
        description="The sub-graph run each round (nodes and edges, no start or end node); its "
        "nodes read [<this node's id>, <variable>] and [<this node's id>, 'index']."
    )
    loop_variables: list[LoopVariable] = Field(
        default_factory=list, max_length=32, description="State carried from round to round."
    )
    updates: dict[str, ValueSelector] = Field(
        default_factory=dict,
        description="Variable -> the sub-graph value it takes after each round.",
    )
    break_conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Tested before each round over the variables and 'index'; when they "
        "hold the loop ends (none: run max_iterations rounds).",
    )
    logic: Literal["and", "or"] = Field(
        default="and", description="and: every break condition must hold; or: any one."
    )
    max_iterations: int = Field(
        default=10, ge=1, le=10_000, description="Most rounds (capped by the operator)."
    )

    @model_validator(mode="after")
    def _names(self) -> LoopNodeData:
        names = [v.name for v in self.loop_variables]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"loop variable {name!r} is declared twice")
            if name in (INDEX, ROUNDS):
                raise ValueError(f"{name!r} is the loop's own; name the variable differently")
        for name in self.updates:
            if name not in names:
                raise ValueError(f"updates names {name!r}, which is not a loop variable")
        for condition in self.break_conditions:
            if condition.input != INDEX and condition.input not in names:
                raise ValueError(
                    f"a break condition tests {condition.input!r}, which is neither a loop "
                    "variable nor 'index'"
                )
        return self


class LoopNodeV2(SubgraphNode[LoopNodeData]):
    """Runs its sub-graph until the break conditions hold; outputs the final variables."""

    type_key = "loop"
    config_model = LoopNodeData
    title = "Loop"
    category = "logic"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "graph": {"nodes": [{"id": "step", "type": "template", "config": {"template": "round"}}]},
        "break_conditions": [{"input": "index", "operator": "greater_or_equal", "value": 3}],
    }
    description = "Repeat a sub-graph, carrying variables, until a condition holds."

    def max_depth(self) -> int:
        return get_node_settings().subgraph_max_depth

    def _variables(self) -> tuple[PortDefinition, ...]:
        return tuple(
            PortDefinition(name=v.name, type=v.type, required=False, default=v.default)
            for v in self.config.loop_variables
        )

    def scope_ports(self) -> tuple[PortDefinition, ...]:
        index = PortDefinition(name=INDEX, type=PortType.INTEGER, description="the round")
        return (*self._variables(), index)

    def port_schema(self) -> NodePortSchema:
        types = {v.name: v.type for v in self.config.loop_variables}
        for name, selector in self.config.updates.items():
            port = body_output_port(self, f"updates.{name}", selector)
            if not port.type.fits(types[name]):
                raise DefinitionError(
                    f"config.updates.{name}: {selector} is {port.type.value} but loop variable "
                    f"{name!r} is {types[name].value}",
                    details={"path": f"config.updates.{name}"},
                )
        rounds = PortDefinition(name=ROUNDS, type=PortType.INTEGER, description="rounds run")
        variables = self._variables()
        return NodePortSchema(inputs=variables, outputs=(*variables, rounds))

    def _coerce(self, name: str, kind: PortType, value: Any, when: str) -> Any:
        if value is None:
            return None
        try:
            return coerce_value(kind, value)
        except ValueError as exc:
            raise NodeExecutionError(
                f"node {self.node_id!r}: loop variable {name!r} {when}: {exc}", node_id=self.node_id
            ) from None

    def _should_break(self, values: dict[str, Any], index: int) -> bool:
        conditions = self.config.break_conditions
        if not conditions:
            return False
        state = {**values, INDEX: index}
        results = (c.holds(state) for c in conditions)
        return all(results) if self.config.logic == "and" else any(results)

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        variables = self.config.loop_variables
        values = {
            v.name: self._coerce(v.name, v.type, inputs.get(v.name), "(initial value)")
            for v in variables
        }
        types = {v.name: v.type for v in variables}
        limit = min(self.config.max_iterations, get_node_settings().loop_max_iterations)
        usage = TokenUsage()
        rounds = 0
        while rounds < limit and not self._should_break(values, rounds):
            result = await ctx.run_body(self, {**values, INDEX: rounds}, iteration=rounds)
            usage = usage + result.usage
            failure = body_failure(self.node_id, f"round {rounds}", result)
            if failure is not None:
                raise failure
            for name, selector in self.config.updates.items():
                value = body_value(result, selector)
                values[name] = self._coerce(name, types[name], value, f"after round {rounds}")
            rounds += 1
        return NodeResult({**values, ROUNDS: rounds}, usage=usage)
