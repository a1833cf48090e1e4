"""KorQuAD 1.0 dev as a retrieval benchmark: articles become documents, questions become queries.

The data is not in the repository: it sits next to it, at ``../shared/data/korquad/`` relative to
the repository root (``--data`` overrides). Articles with an even index in ``data`` are the tuning
split; odd ones are kept for independent checks.

A hit is a retrieved chunk that comes from the question's article and contains one of the answer
texts (KorQuAD answers are spans of one paragraph).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

CACHE_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = (
    Path(__file__).resolve().parent.parent / "../shared/data/korquad/KorQuAD_v1.0_dev.json"
)
Split = Literal["even", "odd", "all"]


@dataclass(frozen=True, slots=True)
class Article:
    index: int
    title: str
    paragraphs: tuple[str, ...]

    @property
    def filename(self) -> str:
        return f"korquad-{self.index:03d}.md"

    def markdown(self) -> str:
        """The article as one Markdown document: its title as heading, paragraphs below."""
        return "\n\n".join([f"# {self.title}", *self.paragraphs]) + "\n"


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    article: int
    text: str
    answers: tuple[str, ...]

    def is_hit(self, article: int, chunk_text: str) -> bool:
        return article == self.article and any(answer in chunk_text for answer in self.answers)


def load(
    path: Path = DEFAULT_DATA, split: Split = "even", limit: int | None = None
) -> tuple[list[Article], list[Question]]:
    """The articles of ``split`` (the first ``limit`` of them) and all their questions."""
    if not path.is_file():
        raise SystemExit(f"KorQuAD data not found at {path} (pass --data PATH)")
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    articles: list[Article] = []
    questions: list[Question] = []
    for index, entry in enumerate(data):
        if (split == "even" and index % 2) or (split == "odd" and not index % 2):
            continue
        if limit is not None and len(articles) >= limit:
            break
        paragraphs = tuple(p["context"] for p in entry["paragraphs"])
        articles.append(Article(index, entry["title"], paragraphs))
        for paragraph in entry["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(Question(qa["id"], index, qa["question"], answers))
    return articles, questions


@dataclass
class Scores:
    """recall@1, recall@5 and MRR@10 accumulated over questions."""

    count: int = 0
    hits_at_1: int = 0
    hits_at_5: int = 0
    reciprocal_ranks: float = 0.0

    def add(self, question: Question, ranked: Sequence[tuple[int, str]]) -> None:
        """``ranked``: (article index, chunk text) best first."""
        self.count += 1
        for rank, (article, text) in enumerate(ranked[:10], start=1):
            if question.is_hit(article, text):
                self.hits_at_1 += rank == 1
                self.hits_at_5 += rank <= 5
                self.reciprocal_ranks += 1.0 / rank
                return

    @property
    def recall_at_1(self) -> float:
        return self.hits_at_1 / self.count if self.count else 0.0

    @property
    def recall_at_5(self) -> float:
        return self.hits_at_5 / self.count if self.count else 0.0

    @property
    def mrr_at_10(self) -> float:
        return self.reciprocal_ranks / self.count if self.count else 0.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every KorQuAD bench takes: split, size, data, embedding model and cache."""
    parser.add_argument("--split", choices=("even", "odd", "all"), default="even")
    parser.add_argument("--limit", type=int, default=None, help="only the first N articles")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--embedding-model", default=None, help="embedding spec (default: the product's default)"
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=CACHE_DIR,
        help="where vectors are kept between runs (see _retrieval_backends.EmbeddingCache)",
    )
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
