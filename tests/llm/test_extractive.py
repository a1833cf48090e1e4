"""What a user of the offline answerer sees: no echo, no headings or markup, every part answered.

The requests are built the way the product's llm node builds them (see
`snapagent.services.bots` for the default prompts), from document text as the product's parser
leaves it (headings as lines of their own, tables as ``a | b`` rows).
"""

from __future__ import annotations

import asyncio

import pytest

from snapagent.llm.extractive import ANSWER_TEXTS, question_parts
from snapagent.llm.offline import OfflineChatModel
from snapagent.llm.sentences import clean_markup, split_sentences
from snapagent.nodes.templating import default_renderer
from snapagent.services.bots import (
    DEFAULT_PROMPT,
    DEFAULT_SYSTEM_PROMPT,
    PLAIN_SYSTEM_PROMPT,
)
from snapagent.workflow.services import ChatMessage, ChatRequest, RetrievedDocument

EN, KO = ANSWER_TEXTS["en"], ANSWER_TEXTS["ko"]


def _doc(text: str, title: str, number: int, heading: str | None = None) -> RetrievedDocument:
    return RetrievedDocument(
        text=text,
        score=0.5,
        document_id=f"doc-{number}",
        document_title=title,
        knowledge_base_id="kb-1",
        chunk_id=f"chunk-{number}",
        heading=heading,
    )


def _rag(question: str, documents: list[RetrievedDocument]) -> ChatRequest:
    """The default RAG bot's llm request: context rendered into the prompt, documents attached."""
    values = {"context": [d.to_dict() for d in documents], "query": question}
    prompt = asyncio.run(default_renderer().render(DEFAULT_PROMPT, values, node_id="llm"))
    return ChatRequest(
        messages=[ChatMessage("user", prompt)],
        system=DEFAULT_SYSTEM_PROMPT,
        documents=tuple(documents),
        query=question,
    )


def _plain(question: str) -> ChatRequest:
    """A bot without knowledge: start -> llm("{{ query }}") -> end."""
    return ChatRequest(
        messages=[ChatMessage("user", question)], system=PLAIN_SYSTEM_PROMPT, query=question
    )


def answer(request: ChatRequest) -> str:
    return OfflineChatModel().answer(request)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Hello! Can you tell me a joke?", EN["no_context"]),
        ("안녕하세요! 재미있는 농담 하나 해 줄래요?", KO["no_context"]),
        ("You are a helpful assistant. Answer briefly and accurately.", EN["no_context"]),
    ],
)
def test_without_knowledge_it_says_so_and_never_echoes_the_question(
    question: str, expected: str
) -> None:
    assert answer(_plain(question)) == expected
    # The same with the message only (no query hint) and with history before it.
    history = [ChatMessage("user", "earlier"), ChatMessage("assistant", "reply")]
    assert answer(ChatRequest(messages=[*history, ChatMessage("user", question)])) == expected


def test_a_rag_bot_that_retrieved_nothing_says_nothing_was_relevant() -> None:
    assert answer(_rag("What is the refund policy?", [])) == EN["nothing"]
    assert answer(_rag("환불 규정은 어떻게 되나요?", [])) == KO["nothing"]


def test_headings_table_rows_and_markup_are_never_quoted() -> None:
    # As the parser leaves a Markdown page: headings and table rows as lines of their own.
    text = (
        "Pricing\n\nPlans and prices\n\nPlan | Price per month\n\nBasic | 10 USD\n\n"
        "Pro | 30 USD\n\nThe **Basic** plan costs `10 USD` per month, billed "
        "[monthly](https://example.com/billing).\n\n```\nprice = 10\n```\n"
    )
    document = _doc(text, "Pricing", 1, heading="Pricing > Plans and prices")

    result = answer(_rag("How much does the Basic plan cost per month?", [document]))

    assert result == (
        "From the documents:\n- The Basic plan costs 10 USD per month, billed monthly. [1]"
    )


def test_the_sentence_that_answers_wins_over_its_neighbours() -> None:
    text = (
        "Our office is in Seoul. The warranty covers manufacturing defects for two years. "
        "Accidental damage is not covered by the warranty. The office opens at 9 am."
    )
    result = answer(_rag("How long does the warranty last for manufacturing defects?", [
        _doc(text, "Warranty", 1)
    ]))  # fmt: skip

    assert "- The warranty covers manufacturing defects for two years. [1]" in result
    assert "Seoul" not in result
    assert "9 am" not in result


@pytest.mark.parametrize(
    ("question", "wanted"),
    [
        (
            "How long is the warranty and how do I return an item?",
            ["The warranty lasts two years.", "Returns are made through the support portal."],
        ),
        (
            "연차는 며칠이고 병가는 어떻게 신청하나요?",
            [
                "1년 이상 근무하면 연차는 15일입니다.",
                "병가는 당일 오전 10시까지 팀장에게 알립니다.",
            ],
        ),
    ],
)
def test_every_part_of_a_multi_part_question_is_answered(question: str, wanted: list[str]) -> None:
    documents = [
        _doc(
            "The warranty lasts two years. Shipping takes three days. The office opens at 9 am.",
            "Warranty",
            1,
        ),
        _doc("Returns are made through the support portal. Refunds take a week.", "Returns", 2),
        _doc(
            "1년 이상 근무하면 연차는 15일입니다. 사무실은 서울에 있습니다. "
            "병가는 당일 오전 10시까지 팀장에게 알립니다.",
            "휴가 정책",
            3,
        ),
    ]

    result = answer(_rag(question, documents))

    for sentence in wanted:
        assert sentence in result
    assert "9 am" not in result
    assert "서울" not in result


def test_citations_follow_the_sources_numbering_with_repeated_chunks() -> None:
    first = _doc("Invoices are sent on the first day of the month.", "Billing", 1)
    other = _doc("Passwords are reset by an administrator.", "Accounts", 2)
    # The same chunk reached the llm node twice (two knowledge nodes): one source, one number.
    result = answer(_rag("Who resets passwords?", [first, first, other]))

    assert result == "From the documents:\n- Passwords are reset by an administrator. [2]"


def test_a_question_about_something_else_gets_nothing_relevant() -> None:
    documents = [_doc("The warranty lasts two years. Returns take a week.", "Warranty", 1)]

    assert answer(_rag("Which database does the analytics team use?", documents)) == EN["nothing"]
    assert answer(_rag("회사 주차장은 몇 층에 있나요?", documents)) == KO["nothing"]


def test_question_parts_and_sentence_splitting() -> None:
    assert question_parts("How long is it and how do I return it?") == [
        "How long is it",
        "how do I return it",
    ]
    assert question_parts("연차는 며칠이고 병가는?") == ["연차는 며칠", "병가는"]
    assert question_parts("What is SnapAgent?") == ["What is SnapAgent"]
    assert split_sentences("Version 2.5 is out. It fixes bugs... Really?! Yes.") == [
        "Version 2.5 is out.",
        "It fixes bugs...",
        "Really?!",
        "Yes.",
    ]
    # A short title above its paragraph is dropped; a list of short items is kept.
    assert split_sentences("Setup\n\nInstall it. Run it.") == ["Install it.", "Run it."]
    assert split_sentences("- PDF files\n- Word files\n- HTML pages") == [
        "PDF files",
        "Word files",
        "HTML pages",
    ]
    assert clean_markup("see [the docs](https://x.y/z) and <b>this</b>") == "see the docs and this"
