"""Chunks per second: our local embedding path vs the SentenceTransformer it wraps.

Same model object, same texts, same batch size, in one run, alternating rounds:

- ``direct``: ``SentenceTransformer.encode(texts, batch_size=B, normalize_embeddings=True)``
- ``ours``:   ``await LocalEmbeddingModel.embed_documents(texts)`` (worker thread, float32)

Target: ours reaches >= 90% of direct's throughput.

    .venv/bin/python bench/embeddings.py            # full run
    .venv/bin/python bench/embeddings.py --quick    # a smoke run
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from snapagent.llm.local_embeddings import LocalEmbeddingModel

TARGET_RATIO = 0.90
TOPICS = [
    "SnapAgent stores every workflow run with node-level timing and token usage.",
    "지식 베이스에 업로드한 문서는 청크로 나뉘어 색인됩니다.",
    "Published workflow versions are immutable; edit a draft and publish it again.",
    "The offline model answers by quoting the most relevant sentences with citations.",
    "관리자는 API 키를 발급하고 폐기할 수 있으며 키는 해시로만 저장됩니다.",
    "Hybrid retrieval merges keyword and vector rankings with reciprocal rank fusion.",
]


def make_chunks(count: int) -> list[str]:
    """Chunk-sized texts (60-120 words), distinct so no cache could help either side."""
    chunks = []
    for i in range(count):
        body = " ".join(TOPICS[(i + j) % len(TOPICS)] for j in range(3 + i % 3))
        chunks.append(f"Chunk {i}. {body}")
    return chunks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few samples (smoke run)")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    chunk_count, rounds = (32, 1) if args.quick else (128, 3)

    ours = LocalEmbeddingModel(batch_size=args.batch_size)
    direct = ours.load()
    texts = make_chunks(chunk_count)

    def run_direct() -> float:
        started = time.perf_counter()
        direct.encode(
            texts,
            batch_size=args.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return len(texts) / (time.perf_counter() - started)

    def run_ours() -> float:
        async def once() -> float:
            started = time.perf_counter()
            await ours.embed_documents(texts)
            return len(texts) / (time.perf_counter() - started)

        return asyncio.run(once())

    run_direct()  # warm up both paths (first batches allocate)
    run_ours()
    rates: dict[str, list[float]] = {"direct": [], "ours": []}
    for round_number in range(rounds):
        order = ["direct", "ours"] if round_number % 2 == 0 else ["ours", "direct"]
        for name in order:
            gc.collect()
            rates[name].append(run_direct() if name == "direct" else run_ours())

    medians = {name: statistics.median(values) for name, values in rates.items()}
    ratio = medians["ours"] / medians["direct"]
    print(f"local embeddings, {chunk_count} chunks x {rounds} rounds, batch {args.batch_size}")
    for name, value in medians.items():
        print(f"  {name:<7} {value:8.1f} chunks/s")
    verdict = "PASS" if ratio >= TARGET_RATIO else "FAIL"
    print(f"{verdict}  ours/direct = {ratio:.1%} (target >= {TARGET_RATIO:.0%})")
    return 1 if verdict == "FAIL" and not args.no_fail else 0


if __name__ == "__main__":
    sys.exit(main())
