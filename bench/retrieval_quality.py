"""Retrieval quality on KorQuAD 1.0 dev (recall@1, recall@5, MRR@10 per mode) and on the demo.

    .venv/bin/python bench/retrieval_quality.py                 # even split, the tuning set
    .venv/bin/python bench/retrieval_quality.py --split odd     # the held-out check
    .venv/bin/python bench/retrieval_quality.py --limit 10      # quick run on 10 articles
    .venv/bin/python bench/retrieval_quality.py --sweep         # fusion grid (even split only)

Each article is one Markdown document, parsed and chunked exactly as the product does it, then
every question of those articles is asked in keyword, vector and hybrid (default) mode. Targets:
the default mode beats the best single mode (MRR@10 higher, recall@5 at least as high), and on
the demo documents (`snapagent.demo.questions`, English and Korean) the default embedding model
ranks the answering passage first at least as often in English as the previous default
(all-MiniLM-L6-v2, measured in the same run when the `torch` extra is installed). Exits non-zero
on FAIL. It also reports what the vector side adds: fusion variants and how many questions the
default ranks better or worse than keyword search alone.

Backends: ``service`` goes through `KnowledgeService` (real ingestion on a temporary SQLite
database); ``modules`` composes parse -> chunk -> BM25/vector indexes -> fusion directly.
Vectors are cached between runs (``--cache-dir``, ``--no-cache``).
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
from snapagent.db.migrate import upgrade
from snapagent.db.session import Database
from snapagent.demo.questions import DEMO_QUESTIONS
from snapagent.demo.seed import demo_documents
from snapagent.knowledge.fusion import FusionConfig
from snapagent.llm.registry import check_local_embedding
from snapagent.services.knowledge import KnowledgeService

SWEEP_VECTOR_WEIGHTS = (0.2, 0.3, 0.4, 0.5, 0.6)
SWEEP_AGREEMENT = (0.0, 0.3, 0.5)
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
        if args.sweep:
            await _sweep(backend, questions)
        status = _verdict(results)
        if not args.no_demo:
            status |= await _demo_check(Path(workdir.name))
        return status
    finally:
        await backend.close()
        workdir.cleanup()


def _better(a: int | None, b: int | None) -> bool:
    return a is not None and (b is None or a < b)


async def _sweep(backend: Backend, questions: Sequence[_korquad.Question]) -> None:
    """Weighted fusion over a grid of weights (tune on the even split only)."""
    print(f"\n{'sweep: vector weight, full agreement':<34} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}")
    rows = []
    for weight in SWEEP_VECTOR_WEIGHTS:
        for agreement in SWEEP_AGREEMENT:
            config = FusionConfig(
                vector_weight=weight, keyword_weight=1 - weight, full_agreement=agreement
            )
            scores, _ = await _evaluate(
                questions, lambda q, c=config: search_fused(backend, q, TOP, c)
            )
            rows.append((scores.mrr_at_10, f"vw {weight:.1f}, agreement {agreement:.1f}", scores))
    for _, label, scores in sorted(rows, key=lambda row: -row[0]):
        print(_row(label, scores, 0.0)[:-10])


def _verdict(results: dict[str, _korquad.Scores]) -> int:
    """The default must beat the best single mode: higher MRR@10, recall@5 at least as high."""
    failures = []
    for metric, strict in (("recall_at_5", False), ("mrr_at_10", True)):
        best = max(getattr(results[m], metric) for m in ("keyword", "vector"))
        default = getattr(results["hybrid"], metric)
        ok = default > best if strict else default >= best
        print(
            f"{'PASS' if ok else 'FAIL'}: default {metric} {default:.3f} "
            f"{'>' if strict else '>='} best single mode {best:.3f}"
        )
        failures += [] if ok else [metric]
    return 1 if failures else 0


async def _demo_hits(spec: str, workdir: Path) -> dict[tuple[str, str], int]:
    """Questions whose answering passage each mode ranks first, by (mode, language)."""
    path = workdir / ("demo-" + spec.replace(":", "-") + ".db")
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    service = KnowledgeService(db)
    service.start()
    try:
        owner = await service.ensure_user("bench@example.com")
        kb = await service.create_knowledge_base(owner, "demo", embedding_model=spec)
        names = {}
        for name, data in demo_documents():
            names[(await service.add_document(owner, kb.id, name, data)).id] = name
        await service.wait_for_documents(list(names))
        hits: dict[tuple[str, str], int] = {}
        for mode in ("keyword", "vector", "hybrid"):
            for case in DEMO_QUESTIONS:
                (top,) = await service.query(owner, [kb.id], case.question, top_k=1, mode=mode)
                hit = names[top.document_id] == case.filename and case.answer in top.text
                key = (mode, case.language)
                hits[key] = hits.get(key, 0) + hit
        return hits
    finally:
        await service.close()
        await db.dispose()


async def _demo_check(workdir: Path) -> int:
    """The demo's questions through each embedding model: passage ranked first, per mode."""
    counts = {lang: sum(q.language == lang for q in DEMO_QUESTIONS) for lang in ("en", "ko")}
    models = ["local:multilingual-e5-small"]
    try:
        check_local_embedding("all-minilm-l6-v2")
        models.append("local")
    except Exception as exc:  # the torch extra is not installed
        print(f"\nprevious default all-MiniLM-L6-v2 not measured: {exc}")
    print(
        f"\ndemo documents: answering passage ranked first "
        f"({counts['en']} English, {counts['ko']} Korean questions)"
    )
    print(f"{'embedding model':<30} {'mode':<8} {'English':>8} {'Korean':>8}")
    results = {}
    for spec in models:
        hits = await _demo_hits(spec, workdir)
        results[spec] = hits
        for mode in ("keyword", "vector", "hybrid"):
            print(
                f"{spec:<30} {mode:<8} {hits[(mode, 'en')]:>4}/{counts['en']:<3} "
                f"{hits[(mode, 'ko')]:>4}/{counts['ko']:<3}"
            )
    default = results[models[0]][("hybrid", "en")]
    if len(models) > 1:
        previous, label = results["local"][("hybrid", "en")], "the previous default"
    else:
        previous, label = results[models[0]][("keyword", "en")], "keyword search"
    ok = default >= previous
    print(
        f"{'PASS' if ok else 'FAIL'}: demo English questions ranked first by the default "
        f"{default}/{counts['en']} >= {label} {previous}/{counts['en']}"
    )
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _korquad.add_arguments(parser)
    parser.add_argument("--backend", choices=("service", "modules"), default="service")
    parser.add_argument("--sweep", action="store_true", help="fusion weight grid (even split)")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo documents check")
    args = parser.parse_args(argv)
    if args.sweep and args.split != "even":
        parser.error("--sweep tunes: run it on the even split only (odd is held out)")
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in logs
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
