"""Warm per-call overhead of the code sandbox and of an isolation pool, against a bare
in-process call of the same function, all measured in this run.

- ``bare``:     the user's ``main(**inputs)`` compiled once and called in this process
- ``pool``:     `IsolatedPool.call` of a trivial module-level function (worker reused)
- ``sandbox``:  `CodeSandbox.execute` (a fresh confined runner per call, forked by a warm zygote)
- ``node``:     the ``code`` node in `WorkflowExecutorV2` (start -> code -> end)
- ``js``:       `CodeSandbox.execute` of the same function in JavaScript (QuickJS)

Targets: ``node`` adds < 20 ms per call over ``bare`` at the median; ``pool`` < 1 ms.

    .venv/bin/python bench/sandbox.py              # 200 calls each
    .venv/bin/python bench/sandbox.py --quick      # 20 calls each
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import operator
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from snapagent.isolation import IsolatedPool, ProcessLimits
from snapagent.nodes import default_registry
from snapagent.sandbox import CodeSandbox, CodeSandboxSettings
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2, WorkflowGraph

NODE_TARGET_MS = 20.0
POOL_TARGET_MS = 1.0
CODE = "def main(a, b):\n    return {'sum': a + b, 'text': f'{a}+{b}'}\n"
JS = "function main({a, b}) { return {sum: a + b, text: `${a}+${b}`}; }"
GRAPH = WorkflowGraph.from_json(
    {
        "nodes": [
            {
                "id": "start",
                "type": "start",
                "config": {"inputs": [{"name": "a", "type": "integer"}, {"name": "b"}]},
            },
            {
                "id": "code",
                "type": "code",
                "config": {
                    "code": CODE,
                    "inputs": ["a", "b"],
                    "outputs": {"sum": "integer", "text": "string"},
                },
                "inputs": {"a": {"selector": ["start", "a"]}, "b": {"selector": ["start", "b"]}},
            },
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "code", "source_port": "sum", "target": "end", "target_port": "answer"}
        ],
    }
)


async def timed(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    """Milliseconds per call, ``count`` calls after 3 warm-up calls."""
    for _ in range(3):
        await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(count: int) -> dict[str, float]:
    namespace: dict[str, Any] = {}
    exec(compile(CODE, "<code>", "exec"), namespace)
    main = namespace["main"]

    async def bare() -> Any:
        return main(a=1, b=2)

    sandbox = CodeSandbox(CodeSandboxSettings(concurrency=1))
    pool = IsolatedPool(
        name="bench", size=1, limits=ProcessLimits(memory_mb=256, cpu_s=5, max_output_bytes=4096)
    )
    executor = WorkflowExecutorV2(default_registry(), ServiceContainer(code_runner=sandbox))
    try:
        status = await sandbox.status()
        print(f"sandbox level: {status.level} {list(status.notes)}")
        runs: dict[str, Callable[[], Awaitable[Any]]] = {
            "bare": bare,
            "pool": lambda: pool.call(operator.add, 1, 2, timeout_s=10),
            "sandbox": lambda: sandbox.execute("python3", CODE, {"a": 1, "b": 2}, timeout_s=10),
            "node": lambda: executor.run(GRAPH, {"a": 1, "b": 2}),
            "js": lambda: sandbox.execute("javascript", JS, {"a": 1, "b": 2}, timeout_s=10),
        }
        medians: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(3):  # alternate rounds so a burst of load hits every variant alike
            for name, call in runs.items():
                medians[name].append(statistics.median(await timed(call, max(count // 3, 5))))
        return {name: statistics.median(values) for name, values in medians.items()}
    finally:
        await sandbox.close()
        await pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per variant")
    parser.add_argument("--quick", action="store_true", help="20 calls per variant")
    parser.add_argument("--no-fail", action="store_true", help="report only, exit 0")
    args = parser.parse_args()
    result = asyncio.run(measure(20 if args.quick else args.calls))
    bare = result["bare"]
    print(f"{'variant':<9} {'median ms':>10} {'added ms':>9} {'ratio':>9}")
    for name, value in result.items():
        print(f"{name:<9} {value:>10.3f} {value - bare:>9.3f} {value / bare:>8.0f}x")
    node_added = result["node"] - bare
    pool_added = result["pool"] - bare
    node_ok = node_added < NODE_TARGET_MS
    pool_ok = pool_added < POOL_TARGET_MS
    verdict = {True: "PASS", False: "FAIL"}
    print(f"code node adds {node_added:.2f} ms (< {NODE_TARGET_MS:g} ms): {verdict[node_ok]}")
    print(f"pool adds {pool_added:.3f} ms (< {POOL_TARGET_MS:g} ms): {verdict[pool_ok]}")
    return 0 if args.no_fail or (node_ok and pool_ok) else 1


if __name__ == "__main__":
    sys.exit(main())
