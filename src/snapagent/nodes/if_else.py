"""`IfElseNodeV2`: conditions on input values choose one branch port.

    {"id": "route", "type": "if_else",
     "config": {"cases": [{"name": "greeting", "logic": "or", "conditions": [
                   {"input": "query", "operator": "starts_with", "value": "hello"},
                   {"input": "query", "operator": "equals", "value": "hi"}]}]},
     "inputs": {"query": {"selector": ["start", "query"]}}}

Branch ports: one per case name plus ``else``; a single case without a name gives ``true`` /
``false``. Cases are tried in order; the first that holds wins. Route with control edges
(``{"source": "route", "source_port": "greeting", "target": "greet"}``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snapagent.workflow.node import BaseNodeV2, NodeResult, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition

__all__ = ["Condition", "IfElseCase", "IfElseNodeData", "IfElseNodeV2"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _compare(test: Callable[[float, float], bool]) -> Callable[[Any, Any], bool]:
    def check(actual: Any, expected: Any) -> bool:
        a, b = _number(actual), _number(expected)
        return a is not None and b is not None and test(a, b)

    return check


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return str(expected) in actual
    if isinstance(actual, list | tuple | dict):
        return expected in actual
    return False


def _empty(actual: Any) -> bool:
    return actual is None or (isinstance(actual, str | list | dict | tuple) and len(actual) == 0)


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "equals": lambda a, b: a == b,
    "not_equals": lambda a, b: a != b,
    "contains": _contains,
    "not_contains": lambda a, b: not _contains(a, b),
    "starts_with": lambda a, b: isinstance(a, str) and a.startswith(str(b)),
    "ends_with": lambda a, b: isinstance(a, str) and a.endswith(str(b)),
    "is_empty": lambda a, _b: _empty(a),
    "is_not_empty": lambda a, _b: not _empty(a),
    "greater_than": _compare(lambda a, b: a > b),
    "less_than": _compare(lambda a, b: a < b),
    "greater_or_equal": _compare(lambda a, b: a >= b),
    "less_or_equal": _compare(lambda a, b: a <= b),
    "in": lambda a, b: isinstance(b, list | tuple | str) and a in b,
    "not_in": lambda a, b: isinstance(b, list | tuple | str) and a not in b,
}
Operator = Literal[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_empty",
    "is_not_empty",
    "greater_than",
    "less_than",
    "greater_or_equal",
    "less_or_equal",
    "in",
    "not_in",
]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(pattern=r"^[^\W\d]\w*$", description="The input port whose value is tested.")
    operator: Operator = Field(description="How the value is compared.")
    value: Any = Field(default=None, description="What it is compared with (if needed).")

    def holds(self, inputs: dict[str, Any]) -> bool:
        return OPERATORS[self.operator](inputs.get(self.input), self.value)


class IfElseCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None,
        pattern=r"^[^\W\d]\w*$",
        description="The branch port this case takes (required with several cases).",
    )
    logic: Literal["and", "or"] = Field(
        default="and", description="and: every condition must hold; or: any one."
    )
    conditions: list[Condition] = Field(min_length=1, description="The tests of this case.")

    def holds(self, inputs: dict[str, Any]) -> bool:
        results = (c.holds(inputs) for c in self.conditions)
        return all(results) if self.logic == "and" else any(results)


class IfElseNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[IfElseCase] = Field(
        min_length=1, description="Tried in order; the first that holds picks its branch."
    )

    @model_validator(mode="after")
    def _names(self) -> IfElseNodeData:
        if len(self.cases) == 1 and self.cases[0].name is None:
            return self
        names = [c.name for c in self.cases]
        if None in names:
            raise ValueError("with several cases, every case needs a name")
        if len(set(names)) != len(names):
            raise ValueError("case names must be unique")
        if "else" in names:
            raise ValueError("'else' is the fallback branch; name the case differently")
        return self

    @property
    def branches(self) -> tuple[str, ...]:
        if len(self.cases) == 1 and self.cases[0].name is None:
            return ("true", "false")
        return (*(str(c.name) for c in self.cases), "else")


class IfElseNodeV2(BaseNodeV2[IfElseNodeData]):
    """Takes the branch of the first case whose conditions hold (else the last branch)."""

    type_key = "if_else"
    config_model = IfElseNodeData
    title = "If / else"
    category = "logic"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "cases": [{"conditions": [{"input": "value", "operator": "is_not_empty"}]}]
    }
    description = "Branch on conditions over the inputs."

    def port_schema(self) -> NodePortSchema:
        names = sorted({c.input for case in self.config.cases for c in case.conditions})
        return NodePortSchema(
            inputs=tuple(PortDefinition(name=n, required=False, default=None) for n in names),
            branches=self.config.branches,
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        branches = self.config.branches
        for case, branch in zip(self.config.cases, branches, strict=False):
            if case.holds(inputs):
                return NodeResult({}, branch)
        return NodeResult({}, branches[-1])
