"""The extractive answerer behind the ``offline`` model: it answers by quoting the documents.

Given a chat request it finds the question (``ChatRequest.query``, else the text after a
"Question:" label in the last user message, else its last line) and the text to answer from:
the retrieved documents (``ChatRequest.documents``), or, when there are none, the context part
of the prompt - never the question itself, so a question is never echoed back as its answer,
and never the system prompt, which holds instructions rather than knowledge.

It quotes the sentences that answer, each with the citation number of its document (``[n]``,
the document's position in the request, which is also its number in the rendered prompt and in
the chat's ``sources``); a question in several parts ("... and ...?", "...이고 ...?") gets the
best sentence for each part. Headings, labels, table rows and markup are never quoted
(`snapagent.llm.sentences`). It says plainly when there is nothing to answer from, or nothing
relevant in what there is. Korean and English; the answer's frame follows the question's
language. Everything is linear in the size of the request.

    answerer = ExtractiveAnswerer()
    answerer.answer(ChatRequest(messages=[ChatMessage("user", "연차는 며칠?")], documents=docs))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from snapagent.llm.quotable import Sentence, SentenceCache, analyse
from snapagent.llm.relevance import RelevanceScorer, features, has_hangul
from snapagent.workflow.services import ChatRequest, RetrievedDocument

__all__ = ["ANSWER_TEXTS", "ExtractiveAnswerer", "phrase_overlap", "question_parts"]

# "Question: ..." / "질문: ..." in a rendered prompt marks where the context ends. Horizontal
# whitespace only: `\s*` after `^` in multi-line mode would run across every following blank
# line at every line start (quadratic on a message of newlines).
_QUESTION_LABEL = re.compile(
    r"^[ \t]*+(?:question|query|q|질문|문의)[ \t]*+[:：][ \t]*+", re.I | re.M
)
# A context label with nothing after it: the prompt had room for documents and got none.
_EMPTY_CONTEXT = re.compile(
    r"^[ \t]*+(?:context|documents?|sources?|참고\s?문서|문서|컨텍스트)[ \t]*+[:：][ \t]*+$",
    re.I | re.M,
)
# Where a question splits into parts: question marks, English conjunctions between clauses,
# Korean conjunctions and connective endings.
_PART_BREAK = re.compile(
    r"[?？]+|[;；]|,\s|\s(?:and|also|plus|as well as)\s"
    r"|그리고|또한|아울러|(?:이고|이며|하고|하며)\s",
    re.I,
)

_PHRASE_GRAM = 4
# Up to this many distinct question grams, a sentence is searched for each (a question of
# ordinary length); beyond, its grams are collected once.
_SEARCHED_GRAMS = 64

ANSWER_TEXTS = {
    "en": {
        "found": "From the documents:",
        "found_context": "From the provided context:",
        "nothing": "I could not find anything relevant to your question in the provided documents.",
        "no_context": "I have no documents to answer from, so I cannot answer that.",
    },
    "ko": {
        "found": "문서에서 찾은 내용입니다:",
        "found_context": "제공된 내용에서 찾은 내용입니다:",
        "nothing": "제공된 문서에서 질문과 관련된 내용을 찾지 못했습니다.",
        "no_context": "참고할 문서가 없어 답변할 수 없습니다.",
    },
}


@dataclass(frozen=True, slots=True)
class _Candidate:
    sentence: Sentence
    citation: int | None  # [n] of its document; None for prompt context
    order: int  # reading order across all documents


def question_parts(question: str) -> list[str]:
    """The parts of a question that each want their own answer (one part if it has no break)."""
    parts = [p.strip() for p in _PART_BREAK.split(question)]
    return [p for p in parts if p]


def _grams(text: str) -> set[str]:
    joined = "".join(text.lower().split())
    return {joined[i : i + _PHRASE_GRAM] for i in range(len(joined) - _PHRASE_GRAM + 1)}


def phrase_overlap(question: str, sentences: Sequence[str]) -> list[float]:
    """For each sentence, the share of the question's character 4-grams (spaces removed) it
    contains: a question that reuses a phrase of its answer ("...를 주도한 혐의로 지명수배된")
    points at that sentence more surely than scattered shared words do."""
    return _overlap(_grams(question), ["".join(s.lower().split()) for s in sentences])


def _overlap(wanted: set[str], joined_sentences: Sequence[str]) -> list[float]:
    """`phrase_overlap` for sentences already lower-cased and joined (``Sentence.joined``)."""
    if not wanted:
        return [0.0] * len(joined_sentences)
    if len(wanted) > _SEARCHED_GRAMS:
        # A long question: one set of each sentence's grams keeps this linear in the text.
        return [
            len(wanted & {j[i : i + _PHRASE_GRAM] for i in range(len(j) - _PHRASE_GRAM + 1)})
            / len(wanted)
            for j in joined_sentences
        ]
    # A 4-gram is among a sentence's 4-grams exactly when it is a substring of the joined text:
    # a few substring searches instead of building a set of every sentence's grams.
    return [sum(gram in joined for gram in wanted) / len(wanted) for joined in joined_sentences]


def _question_and_context(request: ChatRequest) -> tuple[str, str, bool]:
    """The question, the prompt text to answer from when there are no documents, and whether
    the prompt carried an empty context slot."""
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    labels = list(_QUESTION_LABEL.finditer(last_user))
    label = labels[-1] if labels else None
    if label is not None:
        context, question = last_user[: label.start()], last_user[label.end() :]
    else:
        # Unlabelled prompt: the question is its last line (the usual "...context...\n\nQ?").
        lines = last_user.strip().splitlines() or [""]
        context, question = "\n".join(lines[:-1]), lines[-1]
    if request.query and request.query.strip():
        question = request.query
        if label is None:
            context = last_user
    question = question.strip()
    if question:
        context = context.replace(question, " ")  # the question is never its own answer
    # The system prompt is instructions ("You are a helpful assistant."), not knowledge.
    return question, context, _EMPTY_CONTEXT.search(context) is not None


def _citations(documents: Sequence[RetrievedDocument]) -> list[int]:
    """The citation number of each document: its position among distinct chunks, as the
    chat's ``sources`` list them (first seen first)."""
    numbers: dict[tuple[str, object], int] = {}
    out = []
    for doc in documents:
        key = (doc.document_id, doc.chunk_id or doc.chunk_index)
        out.append(numbers.setdefault(key, len(numbers) + 1))
    return out


def _headings(doc: RetrievedDocument) -> list[str]:
    parts = [doc.document_title]
    if doc.heading:
        parts += doc.heading.split(" > ")
    return [p.strip() for p in parts if p and p.strip()]


class ExtractiveAnswerer:
    """Quotes the sentences that answer; see the module docstring. Stateless and thread-safe.

    A sentence scores the share of the question's weighted features it contains (+0.1 x its
    density, `RelevanceScorer`), plus ``phrase_weight`` x the share of the question's character
    4-grams it contains (`phrase_overlap`). Nothing is relevant when the documents together
    contain less than ``min_coverage`` of the question's weighted features, or when the best
    sentence scores below ``min_score``. Other sentences are quoted if they score at least
    ``keep_ratio`` of the best one (up to ``max_sentences``). Each of the first ``max_parts``
    parts of the question adds its best sentence if that covers at least ``part_min_score`` of
    the part. A quote longer than ``max_quote_chars`` is cut. The defaults were tuned on the
    KorQuAD even split (`bench/answer_quality.py`; docs/embeddings.md has the figures).
    """

    def __init__(
        self,
        *,
        max_sentences: int = 3,
        max_parts: int = 6,
        max_quote_chars: int = 1000,
        min_score: float = 0.28,
        keep_ratio: float = 0.6,
        part_min_score: float = 0.5,
        other_language_weight: float = 0.5,
        phrase_weight: float = 0.5,
        min_coverage: float = 0.35,
        sentence_cache: SentenceCache | None = None,
    ) -> None:
        self.max_sentences = max_sentences
        self.max_parts = max_parts
        self.max_quote_chars = max_quote_chars
        self.min_score = min_score
        self.keep_ratio = keep_ratio
        self.part_min_score = part_min_score
        self.other_language_weight = other_language_weight
        self.phrase_weight = phrase_weight
        self.min_coverage = min_coverage
        # Documents' sentences, analysed once per text (retrieved chunks come back often).
        self.sentence_cache = SentenceCache() if sentence_cache is None else sentence_cache

    def answer(self, request: ChatRequest) -> str:
        question, prompt_context, empty_slot = _question_and_context(request)
        text = ANSWER_TEXTS["ko" if has_hangul(question) else "en"]
        candidates = self._candidates(request, prompt_context)
        if not candidates:
            return text["nothing"] if empty_slot or request.documents else text["no_context"]
        chosen = self._select(question, candidates)
        if not chosen:
            return text["nothing"]
        quotes = [self._quote(c.sentence.text) for c in chosen]
        if not request.documents:
            return "\n".join([text["found_context"], *(f"- {q}" for q in quotes)])
        lines = [f"- {q} [{c.citation}]" for q, c in zip(quotes, chosen, strict=True)]
        return "\n".join([text["found"], *lines])

    def _quote(self, sentence: str) -> str:
        """The sentence, cut at a word boundary if it is longer than ``max_quote_chars``."""
        if len(sentence) <= self.max_quote_chars:
            return sentence
        cut = sentence[: self.max_quote_chars]
        space = cut.rfind(" ")
        return (cut[:space] if space > self.max_quote_chars // 2 else cut) + " …"

    def _candidates(self, request: ChatRequest, prompt_context: str) -> list[_Candidate]:
        found: list[_Candidate] = []
        seen: set[str] = set()  # overlapping chunks repeat sentences
        if request.documents:
            sentences = self.sentence_cache.sentences
            for doc, citation in zip(request.documents, _citations(request.documents), strict=True):
                for sentence in sentences(doc.text, tuple(_headings(doc))):
                    if sentence.text not in seen:
                        seen.add(sentence.text)
                        found.append(_Candidate(sentence, citation, len(found)))
            return found
        for sentence in analyse(prompt_context):  # this request's own text: not kept
            if sentence.text not in seen:
                seen.add(sentence.text)
                found.append(_Candidate(sentence, None, len(found)))
        return found

    def _scores(
        self,
        scorer: RelevanceScorer,
        wanted: set[str],
        korean: bool,
        langs: list[bool],
        phrases: Sequence[float] | None = None,
    ) -> list[float]:
        scores = scorer.score_features(wanted)
        if phrases is not None:
            scores = [s + self.phrase_weight * p for s, p in zip(scores, phrases, strict=True)]
        # A name alone ("SnapAgent") matches sentences in every language the documents use;
        # an answer in the asker's language is the useful one.
        return [
            score if is_korean == korean else score * self.other_language_weight
            for score, is_korean in zip(scores, langs, strict=True)
        ]

    def _select(self, question: str, candidates: Sequence[_Candidate]) -> list[_Candidate]:
        wanted = features(question)
        if not wanted:
            return []
        scorer = RelevanceScorer((), analysed=[c.sentence.features for c in candidates])
        korean = has_hangul(question)
        langs = [c.sentence.korean for c in candidates]
        phrases = _overlap(_grams(question), [c.sentence.joined for c in candidates])
        # Documents about something else lack the question's own terms (its names, mostly),
        # even when a sentence shares a few common words with it.
        if scorer.coverage(wanted) < self.min_coverage:
            return []
        scores = self._scores(scorer, wanted, korean, langs, phrases)
        best = max(scores, default=0.0)
        chosen: list[int] = []
        if best >= self.min_score:
            ranked = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
            for i in ranked:
                if scores[i] < max(self.min_score, best * self.keep_ratio):
                    break
                chosen.append(i)
                if len(chosen) == self.max_sentences:
                    break
        # Each part of a multi-part question gets its best sentence, if it has a good one
        # (a sentence answering one part covers only part of the whole question).
        for part in question_parts(question)[: self.max_parts]:
            part_wanted = features(part)
            if not part_wanted or part_wanted == wanted:
                continue
            part_scores = self._scores(scorer, part_wanted, korean, langs)
            top = max(range(len(candidates)), key=lambda i: (part_scores[i], -i))
            # ... and is somewhat relevant to the whole question (a one-word part alone matches
            # too easily in documents about something else).
            relevant = part_scores[top] >= self.part_min_score
            if relevant and scores[top] >= self.min_score / 2 and top not in chosen:
                chosen.append(top)
        # Chosen by relevance, quoted in reading order (documents in retrieval order).
        return [candidates[i] for i in sorted(chosen)]
