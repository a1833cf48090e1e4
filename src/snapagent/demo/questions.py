"""Questions the demo knowledge base answers, with where the answer is and what it says.

Several are paraphrases that share few words with the passage that answers them, so they
exercise the vector side of retrieval as well as keywords. The offline answerer matches words,
not meaning: it quotes the answer of the questions marked ``quoted`` and says it found nothing
relevant (or quotes a neighbouring sentence) for the paraphrases - a real model answers those.
`tests/demo/test_demo_questions.py` asks them through the real default embedding model and the
offline answerer, and `bench/retrieval_quality.py` reports how each embedding model and
retrieval mode ranks them.

    for q in DEMO_QUESTIONS:
        hits = await knowledge.query(owner, [kb_id], q.question, top_k=1)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEMO_QUESTIONS", "DemoQuestion"]


@dataclass(frozen=True, slots=True)
class DemoQuestion:
    question: str
    filename: str  # the bundled document that answers it
    answer: str  # a phrase of the passage that answers it
    quoted: bool = True  # the offline (word-matching) answerer quotes that phrase

    @property
    def language(self) -> str:
        return "ko" if any("가" <= ch <= "힣" for ch in self.question) else "en"


DEMO_QUESTIONS: tuple[DemoQuestion, ...] = (
    DemoQuestion("What does the statistics endpoint report?", "snapagent-overview.md", "p95"),
    DemoQuestion(
        "How do I receive the answer while it is being written?",
        "api-quickstart.md",
        '"stream": true',
    ),
    DemoQuestion(
        "Which kinds of files can I upload?", "snapagent-overview.md", "PDF, Word", quoted=False
    ),
    DemoQuestion(
        "Can I go back to an older version of my workflow?",
        "snapagent-overview.md",
        "restore any earlier version",
        quoted=False,
    ),
    DemoQuestion(
        "What happens if I request something owned by a different account?",
        "api-quickstart.md",
        "answers 404",
        quoted=False,
    ),
    DemoQuestion("How can I get my password reset?", "api-quickstart.md", "administrator"),
    DemoQuestion("When am I able to see an API key?", "api-quickstart.md", "shown only once"),
    DemoQuestion(
        "How are exact terms and paraphrases both found?",
        "snapagent-overview.md",
        "scores are fused",
    ),
    DemoQuestion("What must I send to continue a conversation?", "api-quickstart.md", "session_id"),
    DemoQuestion(
        "Is each run logged with its timing?", "snapagent-overview.md", "timing and token usage"
    ),
    DemoQuestion("1년 이상 근무하면 연차가 며칠 주어지나요?", "leave-policy.ko.md", "15일"),
    DemoQuestion("재택 근무는 일주일에 몇 번 할 수 있나요?", "leave-policy.ko.md", "주 2회"),
    DemoQuestion("병가를 3일 넘게 쓰면 무엇을 내야 하나요?", "leave-policy.ko.md", "진단서"),
)
