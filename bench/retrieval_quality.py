"""Retrieval quality on KorQuAD 1.0 dev: recall@1, recall@5 and MRR@10 per retrieval mode.

    .venv/bin/python bench/retrieval_quality.py                 # even split, the tuning set
    .venv/bin/python bench/retrieval_quality.py --split odd     # the held-out check
    .venv/bin/python bench/retrieval_quality.py --limit 10      # quick run on 10 articles

Each article is one Markdown document, parsed and chunked exactly as the product does it, then
every question of those articles is asked in keyword, vector and hybrid (default) mode. The
script prints PASS/FAIL for "the default mode is within 0.01 of the best single mode on recall@5
and MRR@10" and exits non-zero on FAIL. It also reports what the vector side adds: the fusion of
both lists when the vector weight is honoured whatever the query language (and RRF), and how
many questions the default ranks better or worse than keyword search alone.

Backends: ``service`` goes through `KnowledgeService` (real ingestion on a temporary SQLite
database); ``modules`` composes parse -> chunk -> BM25/vector indexes -> fusion directly.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import _korquad
from _retrieval_backends import Backend, make_backend, search, search_fused
from snapagent.knowledge.fusion import FusionConfig

TOLERANCE = 0.01
RRF_EQUAL = FusionConfig(method="rrf", vector_weight=1.0, keyword_weight=1.0, full_agreement=0)
TOP = 10


async def _evaluate(
    questions: Sequence[_korquad.Question],
    search: Callable[[str], object],
) -> tuple[_korquad.Scores, list[int | None]]:
    scores = _korquad.Scores()
    ranks: list[int | None] = []
    for question in questions:
        ranked = await search(question.text)  # type: ignore[misc]
        scores.add(question, ranked)
        ranks.append(
            next(
                (r for r, (a, t) in enumerate(ranked[:TOP], 1) if question.is_hit(a, t)),
                None,
            )
        )
    return scores, ranks


def _row(name: str, scores: _korquad.Scores, seconds: float) -> str:
    per_query = 1000 * seconds / max(scores.count, 1)
    return (
        f"{name:<34} {scores.recall_at_1:>6.3f} {scores.recall_at_5:>6.3f} "
        f"{scores.mrr_at_10:>7.3f}   {per_query:>7.1f}"
    )


async def run(args: argparse.Namespace) -> int:
    articles, questions = _korquad.load(args.data, args.split, args.limit)
    print(
        f"KorQuAD dev, {args.split} split: {len(articles)} articles, "
        f"{sum(len(a.paragraphs) for a in articles)} paragraphs, {len(questions)} questions"
    )
    workdir = tempfile.TemporaryDirectory(prefix="snapagent-bench-")
    backend: Backend = await make_backend(
        args.backend,
        Path(workdir.name),
        args.embedding_model,
        None if args.no_cache else args.cache_dir,
    )
    try:
        started = time.perf_counter()
        stats = await backend.ingest(articles)
        elapsed = time.perf_counter() - started
        print(
            f"backend {backend.name}: {stats.chunks} chunks ingested in {elapsed:.1f} s "
            f"(embedding {stats.embed_seconds:.1f} s), embedding model {backend.model_id}"
        )
        cache = backend.embeddings.cache
        if cache is not None:
            print(f"  vectors from the cache: {cache.hits}, computed: {cache.misses} (--no-cache)")
        started = time.perf_counter()
        await backend.prefetch_queries([q.text for q in questions])
        print(
            f"{len(questions)} questions embedded in {time.perf_counter() - started:.1f} s "
            "(batched; the timings below exclude query embedding)"
        )
        print(f"\n{'mode':<34} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}   ms/query")
        results: dict[str, _korquad.Scores] = {}
        ranks: dict[str, list[int | None]] = {}
        for mode in ("keyword", "vector", "hybrid"):
            started = time.perf_counter()
            results[mode], ranks[mode] = await _evaluate(
                questions, lambda q, m=mode: search(backend, q, m, TOP)
            )
            print(
                _row(
                    mode + (" (default)" if mode == "hybrid" else ""),
                    results[mode],
                    time.perf_counter() - started,
                )
            )
        # What the safety nets buy: the language gate off, then agreement scaling off too.
        for label, config in (
            ("weighted, no language gate", FusionConfig()),
            ("weighted, fixed weights", FusionConfig(full_agreement=0)),
            ("rrf, fixed equal weights", RRF_EQUAL),
        ):
            started = time.perf_counter()
            scores, _ = await _evaluate(
                questions, lambda q, c=config: search_fused(backend, q, TOP, c)
            )
            print(_row(label, scores, time.perf_counter() - started))
        better = sum(_better(h, k) for h, k in zip(ranks["hybrid"], ranks["keyword"], strict=True))
        worse = sum(_better(k, h) for h, k in zip(ranks["hybrid"], ranks["keyword"], strict=True))
        print(
            f"\nvector side: default ranks {better} questions better and {worse} worse than "
            f"keyword alone; vector alone MRR@10 {results['vector'].mrr_at_10:.3f}"
        )
        return _verdict(results)
    finally:
        await backend.close()
        workdir.cleanup()


def _better(a: int | None, b: int | None) -> bool:
    return a is not None and (b is None or a < b)


def _verdict(results: dict[str, _korquad.Scores]) -> int:
    failures = []
    for metric in ("recall_at_5", "mrr_at_10"):
        best = max(getattr(results[m], metric) for m in ("keyword", "vector"))
        default = getattr(results["hybrid"], metric)
        ok = default >= best - TOLERANCE
        print(
            f"{'PASS' if ok else 'FAIL'}: default {metric} {default:.3f} vs best single mode "
            f"{best:.3f} (tolerance {TOLERANCE})"
        )
        failures += [] if ok else [metric]
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _korquad.add_arguments(parser)
    parser.add_argument("--backend", choices=("service", "modules"), default="service")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in logs
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
