"""The three graph shapes of the engine benchmark and the work their nodes do.

Every framework builds the same shapes from this module and its nodes call the same plain
functions below, so the only thing that differs between frameworks is orchestration:
scheduling, hand-offs, state bookkeeping. Each shape also knows the outputs a correct run
produces; the harness checks them before it times anything, so a framework that skips a node
or drops a value cannot look fast.

    shape = Shape.chain(20)
    shape.node_count  # 20: start, 18 steps, end
    shape.expected()  # {"result": "What is SnapAgent?" + "+" * 18}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

QUERY = "What is SnapAgent?"
FANOUT_WIDTH = 8

ShapeKind = Literal["pipeline", "chain", "fanout"]

# Small on purpose: the benchmark measures orchestration, not copying large values.
_DOCUMENTS: tuple[dict[str, Any], ...] = tuple(
    {
        "text": f"SnapAgent runs port-based workflows (passage {i}).",
        "score": 0.9 - i / 10,
        "document_id": f"doc-{i}",
        "document_title": "SnapAgent overview",
        "knowledge_base_id": "kb-bench",
        "chunk_id": f"chunk-{i}",
        "chunk_index": i,
        "heading": None,
        "metadata": {},
    }
    for i in range(3)
)


def retrieve(query: str) -> list[dict[str, Any]]:
    """The retrieval stub: fixed documents, whatever the query."""
    return list(_DOCUMENTS)


def answer(query: str, documents: list[dict[str, Any]]) -> str:
    """The LLM stub: a fixed-form answer that proves both inputs arrived."""
    return f"Answer to {query!r} from {len(documents)} documents."


def step(value: str) -> str:
    """One link of the chain / one fan-out branch: appends a mark, so the result counts nodes."""
    return value + "+"


def branch_port(index: int) -> str:
    """The name of fan-out branch `index`'s value at the join (`b0` ... `b7`)."""
    return f"b{index}"


@dataclass(frozen=True, slots=True)
class Shape:
    """One benchmark graph: its kind and size, its inputs and the outputs a correct run gives.

    `size` is the node count for `pipeline` (always 4) and `chain`, and the branch count for
    `fanout` (start -> `size` branches -> end).
    """

    kind: ShapeKind
    size: int

    @classmethod
    def pipeline(cls) -> Shape:
        return cls("pipeline", 4)

    @classmethod
    def chain(cls, length: int) -> Shape:
        if length < 3:
            raise ValueError(f"chain length must be at least 3 (start, a step, end), got {length}")
        return cls("chain", length)

    @classmethod
    def fanout(cls, width: int = FANOUT_WIDTH) -> Shape:
        if width < 1:
            raise ValueError(f"fan-out width must be at least 1, got {width}")
        return cls("fanout", width)

    @property
    def name(self) -> str:
        if self.kind == "pipeline":
            return "pipeline-4"
        if self.kind == "chain":
            return f"chain-{self.size}"
        return f"fanout-1-{self.size}-1"

    @property
    def node_count(self) -> int:
        return self.size + 2 if self.kind == "fanout" else self.size

    @property
    def steps(self) -> int:
        """The nodes between start and end that call `step` (chain links or fan-out branches)."""
        return self.size if self.kind == "fanout" else self.size - 2

    @property
    def output_names(self) -> tuple[str, ...]:
        if self.kind == "pipeline":
            return ("answer",)
        if self.kind == "chain":
            return ("result",)
        return tuple(branch_port(i) for i in range(self.size))

    def inputs(self) -> dict[str, Any]:
        return {"query": QUERY}

    def expected(self) -> dict[str, Any]:
        """The outputs of a correct run, computed with the same stub functions."""
        if self.kind == "pipeline":
            return {"answer": answer(QUERY, retrieve(QUERY))}
        if self.kind == "chain":
            return {"result": QUERY + "+" * self.steps}
        return {name: step(QUERY) for name in self.output_names}
