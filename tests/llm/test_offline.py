"""The offline extractive answerer on Korean and English contexts."""

from __future__ import annotations

import asyncio
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapagent.llm.offline import OfflineChatModel
from snapagent.llm.relevance import features
from snapagent.llm.sentences import split_sentences
from snapagent.workflow.services import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    ChatResult,
    RetrievedDocument,
)


def _doc(text: str, title: str, number: int) -> RetrievedDocument:
    return RetrievedDocument(
        text=text,
        score=0.5,
        document_id=f"doc-{number}",
        document_title=title,
        knowledge_base_id="kb-1",
    )


KOREAN_DOCS = [
    _doc(
        "SnapAgent는 Docker Compose로 배포합니다. 배포 전에 환경 변수를 설정해야 합니다. "
        "기본 포트는 8000번입니다.",
        "배포 가이드",
        1,
    ),
    _doc(
        "지식 베이스에 문서를 업로드하면 자동으로 청크로 나뉘어 색인됩니다. "
        "지원 형식은 PDF, DOCX, HTML, Markdown입니다.",
        "지식 베이스",
        2,
    ),
    _doc("회사 점심시간은 12시부터 1시까지입니다.", "사내 규정", 3),
]
ENGLISH_DOCS = [
    _doc(
        "SnapAgent is deployed with Docker Compose. Set the environment variables before "
        "deploying. The default port is 8000.",
        "Deployment guide",
        1,
    ),
    _doc(
        "Uploaded documents are split into chunks and indexed automatically. "
        "Supported formats are PDF, DOCX, HTML and Markdown.",
        "Knowledge bases",
        2,
    ),
]


def _ask(question: str, documents: list[RetrievedDocument], **kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", question)], documents=documents, **kw)  # type: ignore[arg-type]


@pytest.fixture
def model() -> OfflineChatModel:
    return OfflineChatModel()


async def test_korean_question_gets_the_relevant_sentence_with_its_source(
    model: OfflineChatModel,
) -> None:
    result = await model.complete(_ask("어떤 파일 형식을 지원하나요?", KOREAN_DOCS))

    assert result.model == "offline"
    assert result.text.startswith("문서에서 찾은 내용입니다:")
    # [2]: the document's position in the request, its number in the prompt and in `sources`.
    assert "- 지원 형식은 PDF, DOCX, HTML, Markdown입니다. [2]" in result.text
    assert "출처" not in result.text  # the chat's `sources` list them; no second copy
    assert "점심시간" not in result.text
    assert "배포" not in result.text


async def test_korean_matching_survives_particles_and_endings(model: OfflineChatModel) -> None:
    # "배포하나요" (question) and "배포합니다" (document) share no whole word.
    result = await model.complete(_ask("SnapAgent는 어떻게 배포하나요?", KOREAN_DOCS))

    assert "Docker Compose로 배포합니다. [1]" in result.text


async def test_english_question_cites_the_document_it_quotes(model: OfflineChatModel) -> None:
    result = await model.complete(_ask("What port does the deployment use?", ENGLISH_DOCS))

    assert result.text.splitlines()[0] == "From the documents:"
    assert "- The default port is 8000. [1]" in result.text.splitlines()
    assert "Markdown" not in result.text


async def test_sentences_from_two_documents_get_two_citations(model: OfflineChatModel) -> None:
    docs = [
        _doc("Refunds are paid within 14 days.", "Refund policy", 1),
        _doc("The office is in Seoul.", "Company", 2),
        _doc("Refunds go back to the original card.", "Payments FAQ", 3),
    ]

    result = await model.complete(_ask("Tell me about refunds.", docs))

    assert "- Refunds are paid within 14 days. [1]" in result.text
    assert "- Refunds go back to the original card. [3]" in result.text
    assert "Seoul" not in result.text


async def test_one_chunk_on_the_topic_is_quoted_in_reading_order(model: OfflineChatModel) -> None:
    # Every sentence of the retrieved chunk mentions 연차: a word in all candidates still counts.
    chunk = (
        "입사 첫해에는 매월 1일의 연차가 발생합니다. 1년 이상 근무하면 매년 15일의 연차가 "
        "주어집니다. 사용하지 않은 연차는 다음 해로 이월할 수 있습니다."
    )

    result = await model.complete(_ask("연차는 며칠인가요?", [_doc(chunk, "휴가 정책", 1)]))

    lines = result.text.splitlines()
    assert lines[1].startswith("- 입사 첫해에는")
    assert lines[2].startswith("- 1년 이상 근무하면")
    assert all(line.endswith("[1]") for line in lines[1:])


async def test_prefers_sentences_in_the_language_of_the_question(model: OfflineChatModel) -> None:
    docs = [
        _doc("이 문서는 SnapAgent 데모 회사의 휴가 정책을 설명합니다.", "휴가 정책", 1),
        _doc("SnapAgent is a self-hostable backend for document chatbots.", "Overview", 2),
    ]

    english = await model.complete(_ask("What is SnapAgent?", docs))
    korean = await model.complete(_ask("SnapAgent는 무엇인가요?", docs))

    assert "self-hostable backend" in english.text
    assert "휴가" not in english.text
    assert "휴가 정책을 설명합니다" in korean.text
    assert "self-hostable" not in korean.text


async def test_hard_wrapped_markdown_sentences_are_quoted_whole(model: OfflineChatModel) -> None:
    text = (
        "# 휴가 정책\n\n## 연차 휴가\n\n"
        "1년 이상 근무한 직원에게는 매년 15일의 연차가 주어지고,\n"
        "3년차부터 2년마다 1일씩 늘어납니다.\n\n"
        "## 재택 근무\n\n주 2회까지 재택 근무를 할 수 있습니다.\n"
    )
    result = await model.complete(
        _ask("연차는 매년 며칠 주어지나요?", [_doc(text, "휴가 정책", 1)])
    )

    assert (
        "- 1년 이상 근무한 직원에게는 매년 15일의 연차가 주어지고, "
        "3년차부터 2년마다 1일씩 늘어납니다. [1]"
    ) in result.text
    assert "재택" not in result.text
    assert "##" not in result.text


@pytest.mark.parametrize(
    ("question", "documents", "expected"),
    [
        ("What is the capital of France?", ENGLISH_DOCS, "could not find anything relevant"),
        ("양자역학의 불확정성 원리는?", KOREAN_DOCS, "관련된 내용을 찾지 못했습니다"),
    ],
)
async def test_says_plainly_when_nothing_is_relevant(
    model: OfflineChatModel, question: str, documents: list[RetrievedDocument], expected: str
) -> None:
    result = await model.complete(_ask(question, documents))

    assert expected in result.text
    assert "[1]" not in result.text


async def test_answers_from_prompt_context_when_no_documents(model: OfflineChatModel) -> None:
    prompt = (
        "Context:\nThe warranty lasts two years. Returns are accepted within 30 days.\n\n"
        "Question: How long is the warranty?"
    )
    result = await model.complete(ChatRequest(messages=[ChatMessage("user", prompt)]))

    assert "The warranty lasts two years." in result.text
    assert "Returns" not in result.text


async def test_query_field_takes_precedence_over_the_prompt(model: OfflineChatModel) -> None:
    request = _ask("Answer using the context.", ENGLISH_DOCS, query="Which formats are supported?")

    result = await model.complete(request)

    assert "Supported formats are PDF, DOCX, HTML and Markdown. [2]" in result.text


async def test_no_context_at_all_is_said(model: OfflineChatModel) -> None:
    result = await model.complete(ChatRequest(messages=[ChatMessage("user", "Hello?")]))

    assert result.text == "I have no documents to answer from, so I cannot answer that."


async def test_stream_matches_complete_and_ends_with_usage(model: OfflineChatModel) -> None:
    request = _ask("How do I deploy SnapAgent?", ENGLISH_DOCS)
    assert isinstance(model, ChatModel)

    result = await model.complete(request)
    chunks = [chunk async for chunk in model.stream(request)]

    assert len(chunks) > 3
    assert "".join(c.text for c in chunks) == result.text
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage == result.usage
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens > 0


async def test_is_deterministic_and_respects_max_tokens(model: OfflineChatModel) -> None:
    request = _ask("How do I deploy SnapAgent?", ENGLISH_DOCS)
    first, second = await model.complete(request), await model.complete(request)
    assert first == second

    short = await model.complete(_ask("How do I deploy SnapAgent?", ENGLISH_DOCS, max_tokens=5))
    assert short.finish_reason == "length"
    assert short.usage.output_tokens <= 5
    assert first.text.startswith(short.text)


def test_sentence_splitting_and_features() -> None:
    text = "# 안내\n첫 문장입니다. 둘째 문장이에요!\n- item one\n3. item two\n## Deployment"
    assert split_sentences(text) == [
        "첫 문장입니다.",
        "둘째 문장이에요!",
        "item one",
        "item two",
    ]
    assert features("배포는 어떻게 하나요?") == {"k:배포"}
    assert features("Deployments are deployed") == {"w:deploy"}


_WORDS = ["연차", "휴가", "배포", "문서", "deploy", "refund", "policy", "port", "SnapAgent", "is"]


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(
        st.lists(st.sampled_from(_WORDS), min_size=1, max_size=8).map(" ".join),
        min_size=1,
        max_size=4,
    ),
    question=st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4).map(" ".join),
)
async def test_every_quote_comes_from_the_document_it_cites(
    texts: list[str], question: str
) -> None:
    documents = [_doc(f"{text}.", f"title {i}", i) for i, text in enumerate(texts)]
    result = await OfflineChatModel().complete(_ask(question, documents))

    for sentence, number in re.findall(r"^- (.+) \[(\d+)\]$", result.text, flags=re.M):
        cited = documents[int(number) - 1]
        assert sentence in split_sentences(cited.text, skip=[cited.document_title])


@pytest.mark.parametrize("how", ["complete", "stream"])
async def test_small_requests_are_answered_inline_and_large_ones_in_a_thread(
    monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    import threading

    from snapagent.workflow.services import StructuredOutput

    model = OfflineChatModel(inline_chars=300)
    threads: list[int] = []
    result = model._result

    def noting(request: ChatRequest) -> ChatResult:
        threads.append(threading.get_ident())
        return result(request)

    monkeypatch.setattr(model, "_result", noting)

    async def text(request: ChatRequest) -> str:
        if how == "complete":
            return (await model.complete(request)).text
        return "".join([c.text async for c in model.stream(request)])

    small = _ask("기본 포트는?", KOREAN_DOCS[:1])  # ~80 characters in all
    large = _ask("기본 포트는?", KOREAN_DOCS[:1] * 4)  # each copy counts: over 300
    here = threading.get_ident()
    assert "8000" in await text(small)
    assert threads[-1] == here
    assert await text(large)
    assert threads[-1] != here
    # The bound counts the system prompt and every message too.
    assert await text(_ask("기본 포트는?", KOREAN_DOCS[:1], system="x" * 300))
    assert threads[-1] != here
    # Tools or a structured output: always a thread, whatever the size.
    schema = StructuredOutput("answer", {"type": "object", "properties": {}}, "the answer")
    await text(_ask("기본 포트는?", [], response_format=schema))
    assert threads[-1] != here
    # Inline or not, the same answer.
    question = _ask("포트?", KOREAN_DOCS[:1])
    assert await model.complete(question) == await asyncio.to_thread(result, question)
