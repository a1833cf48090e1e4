"""Time to the first streamed chunk: our Anthropic client (+ the LLM node) vs the bare SDK.

All three paths talk to the same local fake Anthropic server (real HTTP on 127.0.0.1, the SSE
sequence the API sends; in its own process, so it does not compete with the measured code for
the GIL), interleaved sample by sample in one run, each with a warm connection pool:

- ``sdk``:    ``anthropic.AsyncAnthropic().messages.create(stream=True)``, first text delta
- ``client``: ``ChatModelRegistry.resolve("anthropic:...").stream(request)``, first ChatChunk
- ``node``:   ``WorkflowExecutorV2.stream`` on start -> llm -> end, first ``TextChunk`` event

Target: our layer adds < 1 ms at the median (client - sdk, and node - sdk).

    .venv/bin/python bench/providers.py            # full run
    .venv/bin/python bench/providers.py --quick    # a smoke run
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anthropic

from snapagent.llm.registry import ChatModelRegistry
from snapagent.llm.settings import ProviderSettings
from snapagent.nodes import default_registry
from snapagent.workflow.events import TextChunk
from snapagent.workflow.executor import WorkflowExecutorV2
from snapagent.workflow.schema import WorkflowGraph
from snapagent.workflow.services import ChatMessage, ChatRequest, ServiceContainer

MODEL = "claude-bench"
KEY = "sk-ant-bench-not-a-real-key"
QUESTION = "What is SnapAgent?"
TARGET_MS = 1.0
GRAPH = {
    "nodes": [
        {"id": "start", "type": "start", "config": {}},
        {
            "id": "llm",
            "type": "llm",
            "config": {"model": f"anthropic:{MODEL}", "prompt": "{{ query }}", "max_tokens": 64},
        },
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [
        {"source": "start", "source_port": "query", "target": "llm", "target_port": "query"},
        {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"},
    ],
}
Probe = Callable[[], Awaitable[float]]


def build_probes(base_url: str) -> tuple[dict[str, Probe], Callable[[], Awaitable[None]]]:
    sdk = anthropic.AsyncAnthropic(api_key=KEY, base_url=base_url, max_retries=0)
    settings = ProviderSettings(anthropic_api_key=KEY, anthropic_base_url=base_url)
    registry = ChatModelRegistry(settings)
    model = registry.resolve(f"anthropic:{MODEL}")
    executor = WorkflowExecutorV2(default_registry(), ServiceContainer(chat_models=registry))
    graph = WorkflowGraph.from_json(GRAPH)
    request = ChatRequest(messages=[ChatMessage("user", QUESTION)], max_tokens=64)

    async def bare_sdk() -> float:
        started = time.perf_counter_ns()
        first = 0
        stream = await sdk.messages.create(
            model=MODEL,
            max_tokens=64,
            messages=[{"role": "user", "content": QUESTION}],
            stream=True,
        )
        async for event in stream:
            if not first and event.type == "content_block_delta":
                first = time.perf_counter_ns()
        return (first - started) / 1e6

    async def our_client() -> float:
        started = time.perf_counter_ns()
        first = 0
        async for chunk in model.stream(request):
            if not first and chunk.text:
                first = time.perf_counter_ns()
        return (first - started) / 1e6

    async def our_node() -> float:
        started = time.perf_counter_ns()
        first = 0
        async for event in executor.stream(graph, {"query": QUESTION}):
            if not first and isinstance(event, TextChunk):
                first = time.perf_counter_ns()
        return (first - started) / 1e6

    async def close() -> None:
        await sdk.close()
        await registry.aclose()

    return {"sdk": bare_sdk, "client": our_client, "node": our_node}, close


async def measure(rounds: int, per_round: int, warmup: int) -> dict[str, list[float]]:
    server = subprocess.Popen(  # noqa: ASYNC220 - once, before anything is timed
        [sys.executable, "-m", "snapagent.testing.providers", "anthropic"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        probes, close = build_probes(server.stdout.readline().strip())
        for probe in probes.values():
            for _ in range(warmup):
                assert await probe() > 0
        samples: dict[str, list[float]] = {name: [] for name in probes}
        names = list(probes)
        for round_number in range(rounds):
            gc.collect()
            for turn in range(per_round):
                # Sample by sample, in an order that rotates, so the machine's load (other jobs
                # on a shared box) falls on every path alike.
                shift = (round_number + turn) % len(names)
                for name in names[shift:] + names[:shift]:
                    samples[name].append(await probes[name]())
        await close()
    finally:
        server.communicate(timeout=30)  # closes its stdin: the server stops
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few samples (smoke run)")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    args = parser.parse_args()
    rounds, per_round, warmup = (3, 10, 5) if args.quick else (20, 25, 30)
    samples = asyncio.run(measure(rounds, per_round, warmup))

    medians = {name: statistics.median(values) for name, values in samples.items()}
    print(f"time to first streamed chunk, median of {len(samples['sdk'])} runs each (ms)")
    for name, value in medians.items():
        print(f"  {name:<7} {value:8.3f}")
    failed = False
    for name in ("client", "node"):
        added = medians[name] - medians["sdk"]
        verdict = "PASS" if added < TARGET_MS else "FAIL"
        failed |= verdict == "FAIL"
        print(f"{verdict}  {name} adds {added:+.3f} ms over the bare SDK (target < {TARGET_MS} ms)")
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
