"""The offline answerer as it was before the rewrite (commit 2fe008c), frozen for comparison.

`bench/answer_quality.py` measures it in the same run as the current one, on the same retrieved
documents. Not product code: it exists only so the bench can print "previous" figures.
Known defects kept on purpose (they are what the rewrite fixed): headings and table rows quoted,
the question echoed when there is no context, a "Sources:" block, quadratic label matching.
"""

# ruff: noqa
# mypy: ignore-errors

import math
import re
from collections import Counter
from collections.abc import Sequence


_TOKEN = re.compile(r"[0-9a-z]+|[가-힣]+|[\u4e00-\u9fff\u3040-\u30ff]+")
_HANGUL = re.compile(r"[가-힣]")
# Sentence ends: . ! ? (and CJK forms) followed by space; lines are split first.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_LABEL = re.compile(r"^\S+(?:\s\S+){0,2}\s*[:：]$")  # "Context:", "참고 문서:"

# Word lists are kept as text for readability; split once at import.
_EN_STOP_WORDS = """a about above after again all also am an and any are as at be because been
before being below between both but by can could did do does doing down during each few for
from further had has have having he her here hers him his how i if in into is it its itself
just me more most my no nor not now of off on once only or other our out over own same she
should so some such than that the their them then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you
your please tell explain describe give know want need"""
_KO_SUFFIX_WORDS = """은 는 이 가 을 를 의 에 에서 에게 께서 한테 으로 로 와 과 도 만 부터 까지 이나
나 랑 이랑 보다 처럼 이란 란 이라는 라는 입니다 합니다 습니다 됩니다 인가요 하나요 되나요 나요
까요 가요 세요 해요 이에요 예요 인지 이다 하다 한다 된다 했다 하는 되는 한 된 할 하면 하려면
려면 하고 해야"""
_KO_STOP_WORDS = """무엇 어떻게 어떤 언제 어디 어디서 누구 누가 왜 얼마 몇 뭐 뭔가 무슨 대해 대한
관해 관한 알려 알려줘 알려주세요 설명 설명해 주세요 그리고 또는 그러나 하지만 이것 그것 저것
있나요 있습니까 있어요 없나요 며칠 몇일 얼마나 어느"""

_EN_STOP = frozenset(_EN_STOP_WORDS.split())
# Longest first, so "에서" is tried before "서"; only stripped when two syllables remain.
_KO_SUFFIXES = tuple(sorted(_KO_SUFFIX_WORDS.split(), key=len, reverse=True))
_KO_SUFFIX_SET = frozenset(_KO_SUFFIXES)  # a word that is only an ending/particle carries nothing
_KO_STOP = frozenset(_KO_STOP_WORDS.split())
_KO_STOP_PREFIXES = tuple(stop for stop in _KO_STOP if len(stop) > 1)


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def _paragraphs(text: str) -> list[str]:
    """Hard-wrapped lines joined back into paragraphs; each list item is its own paragraph."""
    paragraphs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or _HEADING.match(line) or _LABEL.match(stripped):
            flush()  # a title or label is not an answer; its words are in the lines below it
        elif _BULLET.match(line) or stripped.startswith("|"):
            flush()
            current.append(_BULLET.sub("", line).strip())
        else:
            current.append(stripped)
    flush()
    return paragraphs


def split_sentences(text: str) -> list[str]:
    """Sentences and list items of ``text`` (wrapped lines rejoined, bullets stripped,
    headings dropped)."""
    return [
        piece.strip()
        for paragraph in _paragraphs(text)
        for piece in _SENTENCE_END.split(paragraph)
        if len(piece.strip()) > 1
    ]


def _korean_stem(word: str) -> str:
    for suffix in _KO_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    return word


def features(text: str) -> set[str]:
    """The comparable features of ``text`` (see the module docstring)."""
    found: set[str] = set()
    for token in _TOKEN.findall(text.lower()):
        if token.isascii():
            if token in _EN_STOP or (len(token) < 2 and not token.isdigit()):
                continue
            if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
                token = token[:-1]
            found.add("w:" + token[:6])
        elif token in _KO_SUFFIX_SET or token in _KO_STOP or token.startswith(_KO_STOP_PREFIXES):
            continue
        else:
            stem = _korean_stem(token)
            if len(stem) == 1:
                found.add("k:" + stem)
            found.update("k:" + stem[i : i + 2] for i in range(len(stem) - 1))
    return found


class RelevanceScorer:
    """Scores candidate sentences against questions; idf is computed once per candidate set."""

    def __init__(self, sentences: Sequence[str]) -> None:
        self._features = [features(sentence) for sentence in sentences]
        counts: Counter[str] = Counter()
        for sentence_features in self._features:
            counts.update(sentence_features)
        self._df = counts
        self._n = len(sentences)

    def _idf(self, feature: str) -> float:
        # Smoothed so that a word in *every* candidate still counts: the candidates are what
        # retrieval found for this question, so its topic word is often in all of them.
        # A question word found nowhere weighs like the rarest word found somewhere: it still
        # lowers coverage, but one unmatched word cannot sink an otherwise matching sentence.
        df = max(1, self._df.get(feature, 0))
        return math.log(1 + (self._n + 1) / (df + 0.5))

    def score(self, question: str) -> list[float]:
        """For each sentence: the share of the question's (idf-weighted) features it contains,
        plus a small bonus for density, so a short precise sentence beats a rambling one."""
        wanted = features(question)
        weights = {feature: self._idf(feature) for feature in wanted}
        total = sum(weights.values())
        if total == 0:
            return [0.0] * self._n
        scores = []
        for sentence_features in self._features:
            shared = wanted & sentence_features
            coverage = sum(weights[f] for f in shared) / total
            density = len(shared) / len(sentence_features) if sentence_features else 0.0
            scores.append(coverage + 0.1 * density if shared else 0.0)
        return scores


import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from snapagent.llm.tokens import estimate_tokens
from snapagent.workflow.services import ChatChunk, ChatRequest, ChatResult, TokenUsage


OFFLINE_MODEL_ID = "offline"

# "Question: ..." / "질문: ..." in a rendered prompt marks where the context ends.
_QUESTION_LABEL = re.compile(r"^\s*(?:question|query|q|질문|문의)\s*[:：]\s*", re.I | re.M)
_MIN_SCORE = 0.3  # share of the question's weighted features a sentence must contain
_KEEP_RATIO = 0.6  # keep sentences scoring at least this share of the best one
_OTHER_LANGUAGE = 0.5  # weight of a sentence not in the question's language (Korean/other)
_STREAM_PIECE = 24  # characters per streamed chunk (whole words)

_TEXT = {
    "en": {
        "found": "From the documents:",
        "found_context": "From the provided context:",
        "sources": "Sources:",
        "nothing": "I could not find anything relevant to your question in the provided documents.",
        "no_context": "No documents were provided, so I have nothing to answer from.",
    },
    "ko": {
        "found": "문서에서 찾은 내용입니다:",
        "found_context": "제공된 내용에서 찾은 답변입니다:",
        "sources": "출처:",
        "nothing": "제공된 문서에서 질문과 관련된 내용을 찾지 못했습니다.",
        "no_context": "참고할 문서가 없어 답변할 수 없습니다.",
    },
}


@dataclass(frozen=True, slots=True)
class _Candidate:
    sentence: str
    source: int | None  # index into the request's documents; None for prompt context


def _question_and_context(request: ChatRequest) -> tuple[str, str]:
    """The question, and the prompt text to answer from when there are no documents."""
    last_user = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    labels = list(_QUESTION_LABEL.finditer(last_user))
    if labels:
        context, question = last_user[: labels[-1].start()], last_user[labels[-1].end() :]
    else:
        # Unlabelled prompt: the question is its last line (the usual "...context...\n\nQ?").
        lines = last_user.strip().splitlines() or [""]
        context, question = "\n".join(lines[:-1]), lines[-1]
    if request.query:
        question = request.query
        context = last_user if not labels else context
    prompt_context = "\n".join(part for part in (request.system or "", context) if part)
    return question.strip(), prompt_context


class PreviousOfflineChatModel:
    """The extractive answerer; see the module docstring. Stateless and safe to share."""

    def __init__(self, *, max_sentences: int = 3) -> None:
        self._max_sentences = max_sentences

    @property
    def model_id(self) -> str:
        return OFFLINE_MODEL_ID

    def __repr__(self) -> str:
        return "OfflineChatModel()"

    def _candidates(self, request: ChatRequest, prompt_context: str) -> list[_Candidate]:
        if request.documents:
            return [
                _Candidate(sentence, index)
                for index, document in enumerate(request.documents)
                for sentence in split_sentences(document.text)
            ]
        return [_Candidate(sentence, None) for sentence in split_sentences(prompt_context)]

    def _select(self, question: str, candidates: Sequence[_Candidate]) -> list[_Candidate]:
        scores = RelevanceScorer([c.sentence for c in candidates]).score(question)
        korean = has_hangul(question)
        # A name alone ("SnapAgent") matches sentences in every language the documents use;
        # an answer in the asker's language is the useful one.
        scores = [
            score if has_hangul(c.sentence) == korean else score * _OTHER_LANGUAGE
            for score, c in zip(scores, candidates, strict=True)
        ]
        best = max(scores, default=0.0)
        if best < _MIN_SCORE:
            return []
        ranked = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
        chosen: list[int] = []
        seen: set[frozenset[str]] = set()
        for i in ranked:
            if scores[i] < max(_MIN_SCORE, best * _KEEP_RATIO):
                break
            key = frozenset(features(candidates[i].sentence))
            if key in seen:  # overlapping chunks repeat sentences
                continue
            seen.add(key)
            chosen.append(i)
            if len(chosen) == self._max_sentences:
                break
        # Chosen by relevance, quoted in reading order (documents in retrieval order).
        return [candidates[i] for i in sorted(chosen)]

    def answer(self, request: ChatRequest) -> str:
        """The answer text (what ``complete`` returns and ``stream`` streams)."""
        question, prompt_context = _question_and_context(request)
        text = _TEXT["ko" if has_hangul(question) else "en"]
        candidates = self._candidates(request, prompt_context)
        if not candidates:
            return text["no_context"]
        chosen = self._select(question, candidates)
        if not chosen:
            return text["nothing"]
        if not request.documents:
            return "\n".join([text["found_context"], *(f"- {c.sentence}" for c in chosen)])
        numbers: dict[int, int] = {}  # document index -> citation number, in order of use
        lines = [text["found"]]
        for candidate in chosen:
            assert candidate.source is not None
            number = numbers.setdefault(candidate.source, len(numbers) + 1)
            lines.append(f"- {candidate.sentence} [{number}]")
        titles = [d.document_title or d.document_id for d in request.documents]
        sources = [f"[{number}] {titles[index]}" for index, number in numbers.items()]
        return "\n".join([*lines, "", text["sources"], *sources])

    def _result(self, request: ChatRequest) -> ChatResult:
        answer = self.answer(request)
        finish = "stop"
        if request.max_tokens is not None and estimate_tokens(answer) > request.max_tokens:
            answer = _truncate_to_tokens(answer, request.max_tokens)
            finish = "length"
        prompt = [request.system or "", *(m.content for m in request.messages)]
        prompt += [d.text for d in request.documents]
        usage = TokenUsage(estimate_tokens("\n".join(prompt)), estimate_tokens(answer))
        return ChatResult(text=answer, model=OFFLINE_MODEL_ID, finish_reason=finish, usage=usage)

    async def complete(self, request: ChatRequest) -> ChatResult:
        return self._result(request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        result = self._result(request)
        for piece in _pieces(result.text):
            yield ChatChunk(text=piece)
            await asyncio.sleep(0)  # let the consumer forward each piece as it arrives
        yield ChatChunk(finish_reason=result.finish_reason, usage=result.usage)


def _truncate_to_tokens(text: str, max_tokens: int) -> str:
    while text and estimate_tokens(text) > max_tokens:
        text = text[: max(0, len(text) - max(1, len(text) // 10))]
    return text


def _pieces(text: str) -> list[str]:
    """Stream pieces of about ``_STREAM_PIECE`` characters that end after whitespace."""
    pieces: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        current += word
        if len(current) >= _STREAM_PIECE or "\n" in word:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces
