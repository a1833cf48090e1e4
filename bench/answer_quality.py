"""Answer quality of the ``offline`` model on KorQuAD 1.0 dev, against its previous version.

    .venv/bin/python bench/answer_quality.py                 # even split (tuned there)
    .venv/bin/python bench/answer_quality.py --split odd     # held out
    .venv/bin/python bench/answer_quality.py --limit 10      # quick run

Every article of the split is one document of one knowledge base, ingested through
`KnowledgeService` (the default embedding model; vectors cached between runs, see
`_retrieval_backends.EmbeddingCache`). Each question is then put to the answerer twice, as the
default RAG bot would (knowledge node top_k 4 -> llm node with the default prompt):

- answerable: retrieval limited to the question's own article (as if the knowledge base held
  that article); a hit is an answer that contains the gold answer span;
- unanswerable: retrieval limited to another article (the wrong knowledge base); a hit is the
  answerer saying it found nothing relevant.

The previous answerer (`_offline_previous.py`, frozen) answers the very same requests in the same
run. Targets: the current answerer is at least as good as the previous one on both shares, and
says "nothing relevant" for at least half of the unanswerable questions.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _korquad
from _offline_previous import PreviousOfflineChatModel
from _retrieval_backends import ServiceBackend, make_backend
from snapagent.llm.extractive import ANSWER_TEXTS
from snapagent.llm.offline import OfflineChatModel
from snapagent.nodes.templating import default_renderer
from snapagent.services.bots import DEFAULT_PROMPT, DEFAULT_SYSTEM_PROMPT
from snapagent.workflow.services import ChatMessage, ChatRequest, RetrievedDocument

TOP_K = 4  # the default bot's knowledge node
MIN_NOTHING_SHARE = 0.5
NOTHING = {ANSWER_TEXTS[lang]["nothing"] for lang in ANSWER_TEXTS}


@dataclass
class Tally:
    answered: int = 0
    nothing: int = 0
    asked: int = 0
    sentences: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    seconds: float = 0.0

    def share(self, count: int) -> float:
        return count / self.asked if self.asked else 0.0


async def request_for(question: str, documents: Sequence[RetrievedDocument]) -> ChatRequest:
    """The request the default bot's llm node builds (see `LLMNodeV2.build_request`)."""
    values = {"context": [d.to_dict() for d in documents], "query": question}
    prompt = await default_renderer().render(DEFAULT_PROMPT, values, node_id="llm")
    return ChatRequest(
        messages=[ChatMessage("user", prompt)],
        system=DEFAULT_SYSTEM_PROMPT,
        documents=tuple(documents),
        query=question,
    )


def _quoted_lines(answer: str) -> int:
    return sum(1 for line in answer.splitlines() if line.startswith("- "))


async def run(args: argparse.Namespace) -> int:
    articles, questions = _korquad.load(args.data, args.split, args.limit)
    print(
        f"KorQuAD dev, {args.split} split: {len(articles)} articles, {len(questions)} questions; "
        f"top_k {TOP_K}, default prompt"
    )
    workdir = tempfile.TemporaryDirectory(prefix="snapagent-bench-")
    backend = await make_backend(
        "service",
        Path(workdir.name),
        args.embedding_model,
        None if args.no_cache else args.cache_dir,
    )
    assert isinstance(backend, ServiceBackend)
    models: dict[str, Callable[[ChatRequest], str]] = {
        "previous": PreviousOfflineChatModel().answer,
        "current": OfflineChatModel().answer,
    }
    tallies = {(name, kind): Tally() for name in models for kind in ("own", "wrong")}
    try:
        started = time.perf_counter()
        stats = await backend.ingest(articles)
        print(f"{stats.chunks} chunks ingested in {time.perf_counter() - started:.1f} s")
        await backend.prefetch_queries([q.text for q in questions])
        order = [a.index for a in articles]
        for question in questions:
            position = order.index(question.article)
            wrong_article = order[(position + 1) % len(order)]
            for kind, article in (("own", question.article), ("wrong", wrong_article)):
                if kind == "wrong" and wrong_article == question.article:
                    continue  # a one-article run has no wrong knowledge base
                documents = await backend.documents(question.text, TOP_K, article)
                request = await request_for(question.text, documents)
                for name, answer_of in models.items():
                    tally = tallies[(name, kind)]
                    began = time.perf_counter()
                    answer = answer_of(request)
                    tally.seconds += time.perf_counter() - began
                    tally.asked += 1
                    tally.answered += any(gold in answer for gold in question.answers)
                    tally.nothing += answer in NOTHING
                    tally.sentences.append(_quoted_lines(answer))
                    tally.chars.append(len(answer))
    finally:
        await backend.close()
        workdir.cleanup()
    return _report(tallies)


def _report(tallies: dict[tuple[str, str], Tally]) -> int:
    print(
        f"\n{'answerer':<10} {'gold span in answer':>20} {'wrong KB: nothing relevant':>27} "
        f"{'quotes/answer':>14} {'chars/answer':>13} {'ms/answer':>10}"
    )
    for name in ("previous", "current"):
        own, wrong = tallies[(name, "own")], tallies[(name, "wrong")]
        quoted = own.sentences + wrong.sentences
        chars = own.chars + wrong.chars
        per_answer = 1000 * (own.seconds + wrong.seconds) / max(1, own.asked + wrong.asked)
        print(
            f"{name:<10} {own.share(own.answered):>20.3f} {wrong.share(wrong.nothing):>27.3f} "
            f"{statistics.mean(quoted or [0]):>14.2f} {statistics.mean(chars or [0]):>13.0f} "
            f"{per_answer:>10.2f}"
        )
    print(
        f"(own KB: {tallies[('current', 'own')].asked} questions, "
        f"wrong KB: {tallies[('current', 'wrong')].asked}; an own-KB answer of 'nothing relevant' "
        f"counts as a miss: current {tallies[('current', 'own')].nothing}, previous "
        f"{tallies[('previous', 'own')].nothing})"
    )
    checks = []
    for kind, attribute, label in (
        ("own", "answered", "gold span in answer"),
        ("wrong", "nothing", "wrong KB answered 'nothing relevant'"),
    ):
        current = tallies[("current", kind)]
        previous = tallies[("previous", kind)]
        now, before = (
            current.share(getattr(current, attribute)),
            previous.share(getattr(previous, attribute)),
        )
        checks.append((f"{label}: current {now:.3f} >= previous {before:.3f}", now >= before))
    wrong = tallies[("current", "wrong")]
    nothing = wrong.share(wrong.nothing)
    checks.append(
        (f"wrong KB 'nothing relevant' {nothing:.3f} >= {MIN_NOTHING_SHARE}", nothing >= 0.5)
    )
    for text, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}: {text}")
    return 0 if all(ok for _, ok in checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _korquad.add_arguments(parser)
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress in logs
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
