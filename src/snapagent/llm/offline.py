"""``offline``: a deterministic extractive answerer - the default model, no key, no network.

It answers from the retrieved documents in the request (``ChatRequest.documents``; without
them, from the context text in the prompt): it picks the sentences most relevant to the
question (``ChatRequest.query``, else the question in the last user message), quotes them with
the number of the document each came from, lists the sources, and says plainly when nothing in
the context is relevant. The answer's language (Korean/English) follows the question's.

    model = OfflineChatModel()
    result = await model.complete(ChatRequest(messages=[ChatMessage("user", "설치 방법은?")],
                                              documents=docs))
    result.model  # "offline"
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from snapagent.llm.offline_tools import offline_tool_answer
from snapagent.llm.relevance import RelevanceScorer, features, has_hangul, split_sentences
from snapagent.llm.tokens import estimate_tokens
from snapagent.workflow.services import ChatChunk, ChatRequest, ChatResult, TokenUsage

__all__ = ["OFFLINE_MODEL_ID", "OfflineChatModel"]

OFFLINE_MODEL_ID = "offline"

# "Question: ..." / "질문: ..." in a rendered prompt marks where the context ends.
# Indentation only (not ``\s*``): with re.M every line start of a run of blank lines would
# otherwise scan the rest of the run (quadratic in the number of newlines).
_QUESTION_LABEL = re.compile(r"^[^\S\n]*(?:question|query|q|질문|문의)\s*[:：]\s*", re.I | re.M)
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


class OfflineChatModel:
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
        # Tool calls, answers from tool results and structured output: see offline_tools.
        special = offline_tool_answer(request)
        if special is not None:
            return special
        answer = self.answer(request)
        finish = "stop"
        if request.max_tokens is not None and estimate_tokens(answer) > request.max_tokens:
            answer = _truncate_to_tokens(answer, request.max_tokens)
            finish = "length"
        prompt = [request.system or "", *(m.content for m in request.messages)]
        prompt += [d.text for d in request.documents]
        usage = TokenUsage(estimate_tokens("\n".join(prompt)), estimate_tokens(answer))
        return ChatResult(text=answer, model=OFFLINE_MODEL_ID, finish_reason=finish, usage=usage)

    # The answer is pure CPU work on user text (message, prompt, retrieved documents): it runs
    # in a thread so that no message, however long or odd, can hold up the event loop.
    async def complete(self, request: ChatRequest) -> ChatResult:
        return await asyncio.to_thread(self._result, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        result = await asyncio.to_thread(self._result, request)
        for piece in _pieces(result.text):
            yield ChatChunk(text=piece)
            await asyncio.sleep(0)  # let the consumer forward each piece as it arrives
        yield ChatChunk(
            finish_reason=result.finish_reason,
            usage=result.usage,
            tool_calls=result.tool_calls,
            data=result.data,
        )


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
