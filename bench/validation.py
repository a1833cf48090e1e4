"""Graph validation time against graph size: is it near-linear? (issue 10, section 2)

Validates (`analyse_graph`, what validate/save/publish and every chat compile run) generated
graphs of growing size in four shapes that each stressed a once-quadratic step:

- ``chain``: start -> template -> template -> ... -> end, wired by data edges;
- ``selectors``: the same chain by control edges, every template reading ``start.query`` by
  selector (a reachability search per selector made this quadratic: 4,000 nodes took 15-20 s);
- ``branches``: nested if/else nodes, every ``false`` port leading to a template, and all those
  templates feeding one ``end.answer`` port (exclusive inputs: every pair used to be compared);
- ``wide``: one template with one variable per node, each fed by its own edge (port lookups).

For each shape it prints the median CPU milliseconds per size, microseconds per node at the
largest size, and the scaling exponent: the least-squares slope of log time against log size
over every size (1.0 is linear, 2.0 quadratic), so the baseline is the smallest sizes of the
same run. Target: every exponent <= 1.3 (``n log n`` with noise). Exits 1 when one is missed
(``--no-fail``: report only).

    .venv/bin/python bench/validation.py                  # 250 .. 4,000 nodes (about 1 min)
    .venv/bin/python bench/validation.py --quick          # 100 .. 400 nodes (seconds)
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from snapagent.nodes import default_registry
from snapagent.workflow import WorkflowGraph
from snapagent.workflow.validation import analyse_graph

TARGET_EXPONENT = 1.3
FULL_SIZES = (250, 500, 1000, 2000, 4000)
QUICK_SIZES = (100, 200, 400)

Graph = dict[str, Any]
START: Graph = {"id": "start", "type": "start"}
END: Graph = {"id": "end", "type": "end", "config": {"outputs": ["answer"]}}


def _edge(
    source: str, target: str, source_port: str | None = None, target_port: str | None = None
) -> Graph:
    edge: Graph = {"source": source, "target": target}
    if source_port:
        edge["source_port"] = source_port
    if target_port:
        edge["target_port"] = target_port
    return edge


def _template(node_id: str, **inputs: list[str]) -> Graph:
    node: Graph = {"id": node_id, "type": "template", "config": {"template": "{{ x }}!"}}
    if inputs:
        node["inputs"] = {port: {"selector": selector} for port, selector in inputs.items()}
    return node


def chain(n: int) -> Graph:
    nodes, edges, previous, port = [START], [], "start", "query"
    for i in range(n):
        nodes.append(_template(f"t{i}"))
        edges.append(_edge(previous, f"t{i}", port, "x"))
        previous, port = f"t{i}", "text"
    edges.append(_edge(previous, "end", port, "answer"))
    return {"nodes": [*nodes, END], "edges": edges}


def selectors(n: int) -> Graph:
    nodes, edges, previous = [START], [], "start"
    for i in range(n):
        nodes.append(_template(f"t{i}", x=["start", "query"]))
        edges.append(_edge(previous, f"t{i}"))
        previous = f"t{i}"
    edges.append(_edge(previous, "end", "text", "answer"))
    return {"nodes": [*nodes, END], "edges": edges}


def branches(n: int) -> Graph:
    condition = {"input": "q", "operator": "contains", "value": "x"}
    nodes, edges, previous, port = [START], [], "start", None
    for i in range(n // 2):
        nodes.append(
            {
                "id": f"if{i}",
                "type": "if_else",
                "config": {"cases": [{"conditions": [condition]}]},
                "inputs": {"q": {"selector": ["start", "query"]}},
            }
        )
        nodes.append(_template(f"leaf{i}", x=["start", "query"]))
        edges += [_edge(previous, f"if{i}", port), _edge(f"if{i}", f"leaf{i}", "false")]
        edges.append(_edge(f"leaf{i}", "end", "text", "answer"))
        previous, port = f"if{i}", "true"
    nodes.append(_template("last", x=["start", "query"]))
    edges += [_edge(previous, "last", port), _edge("last", "end", "text", "answer")]
    return {"nodes": [*nodes, END], "edges": edges}


def wide(n: int) -> Graph:
    names = [f"v{i}" for i in range(n)]
    template = {
        "id": "t",
        "type": "template",
        "config": {"template": "".join(f"{{{{ {v} }}}}" for v in names)},
    }
    edges = [_edge("start", "t", "query", v) for v in names]
    edges.append(_edge("t", "end", "text", "answer"))
    return {"nodes": [START, template, END], "edges": edges}


SHAPES: dict[str, Callable[[int], Graph]] = {
    "chain": chain,
    "selectors": selectors,
    "branches": branches,
    "wide": wide,
}


def measure(data: Graph, repeats: int) -> float:
    """Median CPU seconds of one validation (parsing the JSON included, as the server does).
    CPU time of this thread, not wall time: other jobs on a shared machine do not count."""
    registry = default_registry()
    times = []
    for _ in range(repeats):
        # Start every run from the same heap: the collector's passes over objects that exist
        # before validation (earlier runs, the input) are not validation's cost.
        gc.collect()
        gc.freeze()
        began = time.thread_time()
        analysis = analyse_graph(WorkflowGraph.from_json(data), registry)
        times.append(time.thread_time() - began)
        if analysis.problems:
            raise SystemExit(f"generated graph is invalid: {analysis.problems[:3]}")
    return statistics.median(times)


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope: steadier than two end points on a busy machine."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per size (median)")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    args = parser.parse_args(argv)
    sizes = QUICK_SIZES if args.quick else FULL_SIZES
    missed = []
    print(f"{'shape':<10} " + " ".join(f"{n:>9}" for n in sizes) + "   us/node   exponent")
    for name, build in SHAPES.items():
        seconds = [measure(build(n), args.repeats) for n in sizes]
        exponent = _slope([math.log(n) for n in sizes], [math.log(s) for s in seconds])
        per_node = seconds[-1] / sizes[-1] * 1e6
        verdict = "PASS" if exponent <= TARGET_EXPONENT else "FAIL"
        if verdict == "FAIL":
            missed.append(name)
        cells = " ".join(f"{s * 1000:>7.1f}ms" for s in seconds)
        print(f"{name:<10} {cells} {per_node:>9.0f} {exponent:>10.2f}  {verdict}")
    print(f"target: exponent <= {TARGET_EXPONENT} for every shape (baseline: the smallest size)")
    return 1 if missed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
