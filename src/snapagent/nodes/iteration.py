"""`IterationNodeV2`: run a sub-graph once per item of ``items``; collect outputs in order.

    {"id": "each", "type": "iteration",
     "config": {"graph": {"nodes": [
                  {"id": "summarise", "type": "llm",
                   "config": {"prompt": "Summarise in one line: {{ text }}"},
                   "inputs": {"text": {"selector": ["each", "item"]}}}], "edges": []},
                "outputs": {"summaries": ["summarise", "text"]},
                "parallelism": 4},
     "inputs": {"items": {"selector": ["start", "documents"]}}}

Body nodes read ``["each", "item"]`` and ``["each", "index"]`` (plus anything upstream of
``each``). Each output is a list with one value per item, in item order (``array[string]``
when the body port is a string, and so on). Items run ``parallelism`` at a time. A failing
item, by ``on_item_error``: ``fail`` stops the other items and fails the node (its error
strategy applies), ``continue`` keeps a null in its place, ``drop`` leaves it out; either way
``errors`` lists ``{"index", "error"}`` of the failed items. Every body node run is recorded
under the node with its item's index.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.errors import NodeExecutionError, RunLimitError
from snapagent.nodes.containers import body_failure, body_output_port, body_value
from snapagent.nodes.settings import get_node_settings
from snapagent.workflow.node import NodeResult, RunContext
from snapagent.workflow.result import RunError, WorkflowRunResult
from snapagent.workflow.schema import NodePortSchema, PortDefinition, ValueSelector, WorkflowGraph
from snapagent.workflow.services import TokenUsage
from snapagent.workflow.subgraph import SubgraphNode
from snapagent.workflow.types import PortType

__all__ = ["IterationNodeData", "IterationNodeV2"]

ERRORS_PORT = "errors"
_LIST_OF = {
    PortType.STRING: PortType.ARRAY_STRING,
    PortType.NUMBER: PortType.ARRAY_NUMBER,
    PortType.INTEGER: PortType.ARRAY_NUMBER,
    PortType.OBJECT: PortType.ARRAY_OBJECT,
}


class IterationNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    graph: WorkflowGraph = Field(
        description="The sub-graph run once per item (nodes and edges, no start or end node); "
        "its nodes read [<this node's id>, 'item'] and [<this node's id>, 'index']."
    )
    outputs: dict[str, ValueSelector] = Field(
        min_length=1,
        max_length=32,
        description="Output port -> the sub-graph value collected from each item "
        "([node_id, port, ...path] inside the sub-graph).",
    )
    parallelism: int = Field(
        default=1, ge=1, le=100, description="How many items run at once (capped by the operator)."
    )
    max_items: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Refuse more items than this (empty: the operator's limit).",
    )
    on_item_error: Literal["fail", "continue", "drop"] = Field(
        default="fail",
        description="A failed item: fail the node, continue with a null, or drop it.",
    )

    @field_validator("outputs")
    @classmethod
    def _names(cls, outputs: dict[str, ValueSelector]) -> dict[str, ValueSelector]:
        for name in outputs:
            PortDefinition(name=name)  # the port naming rule
            if name == ERRORS_PORT:
                raise ValueError(f"output {ERRORS_PORT!r} is the node's own; pick another name")
        return outputs


class _ItemFailed(Exception):
    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(str(error))
        self.index = index
        self.error = error


class IterationNodeV2(SubgraphNode[IterationNodeData]):
    """Runs its sub-graph per item; outputs one list per configured output."""

    type_key = "iteration"
    config_model = IterationNodeData
    title = "Iteration"
    category = "logic"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "graph": {"nodes": [{"id": "step", "type": "template", "config": {"template": "item"}}]},
        "outputs": {"output": ["step", "text"]},
    }
    description = "Run a sub-graph once per item of a list; outputs are lists in item order."

    def max_depth(self) -> int:
        return get_node_settings().subgraph_max_depth

    def scope_ports(self) -> tuple[PortDefinition, ...]:
        return (
            PortDefinition(name="item", description="the current item"),
            PortDefinition(name="index", type=PortType.INTEGER, description="its position"),
        )

    def port_schema(self) -> NodePortSchema:
        outputs = []
        for name, selector in self.config.outputs.items():
            port = body_output_port(self, f"outputs.{name}", selector)
            outputs.append(PortDefinition(name=name, type=_LIST_OF.get(port.type, PortType.ANY)))
        errors = PortDefinition(name=ERRORS_PORT, type=PortType.ARRAY_OBJECT)
        items = PortDefinition(name="items", description="the list to iterate over")
        return NodePortSchema(inputs=(items,), outputs=(*outputs, errors))

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        items = inputs["items"]
        if not isinstance(items, list):
            raise NodeExecutionError(
                f"node {self.node_id!r}: items must be a list, got {type(items).__name__}",
                node_id=self.node_id,
            )
        settings = get_node_settings()
        limit = min(
            self.config.max_items or settings.iteration_max_items, settings.iteration_max_items
        )
        if len(items) > limit:
            raise NodeExecutionError(
                f"node {self.node_id!r}: {len(items)} items, over its limit of {limit}",
                node_id=self.node_id,
            )
        progress = _Progress([None] * len(items))
        parallelism = min(self.config.parallelism, settings.iteration_max_parallelism)
        try:
            if parallelism == 1 or len(items) < 2:
                for index in range(len(items)):
                    await self._item(ctx, items, index, progress)
            else:
                await self._in_parallel(ctx, items, parallelism, progress)
        except _ItemFailed as failed:
            raise failed.error from None
        return self._collect(progress)

    async def _item(
        self, ctx: RunContext, items: list[Any], index: int, progress: _Progress
    ) -> None:
        result = await ctx.run_body(self, {"item": items[index], "index": index}, iteration=index)
        progress.usage = progress.usage + result.usage
        failure = body_failure(self.node_id, f"item {index}", result)
        if failure is None:
            progress.results[index] = result
            return
        if isinstance(failure, RunLimitError) or self.config.on_item_error == "fail":
            progress.failed = True
            raise _ItemFailed(index, failure)
        error = RunError.from_exception(failure).to_dict()
        progress.errors.append({"index": index, "error": error})

    async def _in_parallel(
        self, ctx: RunContext, items: list[Any], parallelism: int, progress: _Progress
    ) -> None:
        gate = asyncio.Semaphore(parallelism)

        async def guarded(index: int) -> None:
            async with gate:
                if not progress.failed:  # no new item starts once one has failed the node
                    await self._item(ctx, items, index, progress)

        try:
            # A failing item cancels the ones still running (recorded as cancelled).
            async with asyncio.TaskGroup() as group:
                for index in range(len(items)):
                    group.create_task(guarded(index))
        except BaseExceptionGroup as group_error:
            failed = [e for e in group_error.exceptions if isinstance(e, _ItemFailed)]
            if len(failed) != len(group_error.exceptions):
                raise
            # A run limit first (it ends the run), else the failed item with the lowest index.
            raise min(
                failed, key=lambda e: (not isinstance(e.error, RunLimitError), e.index)
            ) from None
        progress.errors.sort(key=lambda e: int(e["index"]))

    def _collect(self, progress: _Progress) -> NodeResult:
        keep_nulls = self.config.on_item_error == "continue"
        kept = [r for r in progress.results if r is not None or keep_nulls]
        outputs: dict[str, Any] = {
            name: [body_value(r, selector) if r is not None else None for r in kept]
            for name, selector in self.config.outputs.items()
        }
        outputs[ERRORS_PORT] = progress.errors
        return NodeResult(outputs, usage=progress.usage)


@dataclass(slots=True)
class _Progress:
    """One run's items: results in item order (None: failed), errors, tokens used."""

    results: list[WorkflowRunResult | None]
    errors: list[dict[str, Any]] = field(default_factory=list)
    usage: TokenUsage = field(default_factory=TokenUsage)
    failed: bool = False
