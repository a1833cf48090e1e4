"""The offline answerer stays linear on hostile input (issue 10: its splitter was quadratic).

Each case builds an adversarial request at size n and 8n and times the whole answer path
(question extraction, sentence splitting, markup cleaning, scoring, selection) against a linear
baseline on the same texts in the same test: a linear answerer grows about 8x, a quadratic one
64x; the bound is 3x the baseline's own growth (at least 8x), so noise on a busy machine cannot
fail it and a quadratic step cannot pass. Times are the thread's CPU time (best of 3), which
other processes on the machine do not inflate. The previous answerer took minutes on the first
case.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from snapagent.llm.offline import OfflineChatModel
from snapagent.workflow.services import ChatMessage, ChatRequest, RetrievedDocument

N = 2000  # the unit of each case; the big input is 8 times larger


def _doc(text: str) -> RetrievedDocument:
    return RetrievedDocument(text, 1.0, "d1", "Doc", "kb", chunk_id="c1")


def _message(text: str) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text)])


def _with_document(text: str, question: str = "What is the refund policy?") -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", question)], documents=(_doc(text),))


CASES: dict[str, Callable[[int], ChatRequest]] = {
    # The old "Question:" label pattern ran `\s*` across every following blank line.
    "blank lines before a question": lambda n: _message("Context:" + "\n" * (20 * n) + "hi?"),
    "labels on every line": lambda n: _message("question:\n" * (2 * n) + "refund?"),
    "one run of dots": lambda n: _with_document("refund" + "." * (20 * n) + " policy"),
    "runs of punctuation and spaces": lambda n: _with_document("refund ?!. " * (2 * n)),
    "a huge word": lambda n: _with_document("환불" * (10 * n)),
    "many short sentences": lambda n: _with_document("Refund policy is fine. " * n),
    "open brackets and tags": lambda n: _with_document("[refund](" * n + "<a x " * n),
    "table rows and bullets": lambda n: _with_document("| a | b |\n- refund\n# h\n" * n),
    "a question of many parts": lambda n: ChatRequest(
        messages=[ChatMessage("user", "refund policy? " * n)],
        documents=(_doc("The refund policy is generous. " * n),),
    ),
}


def _best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.thread_time()
        action()
        best = min(best, time.thread_time() - started)
    return best


def _text_of(request: ChatRequest) -> str:
    return "\n".join([*(m.content for m in request.messages), *(d.text for d in request.documents)])


@pytest.mark.parametrize("case", list(CASES))
def test_answer_time_grows_linearly(case: str) -> None:
    model = OfflineChatModel()
    small, big = CASES[case](N), CASES[case](8 * N)

    def baseline(request: ChatRequest) -> Callable[[], object]:
        # Linear work over the same characters: split into words and touch each one.
        return lambda: sum(len(word) for word in _text_of(request).split())

    ours = _best_of(3, lambda: model.answer(big)) / max(
        _best_of(3, lambda: model.answer(small)), 1e-6
    )
    linear = _best_of(3, baseline(big)) / max(_best_of(3, baseline(small)), 1e-6)

    assert ours <= 3 * max(8.0, linear), (case, ours, linear)
