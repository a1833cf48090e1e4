"""`SentenceCache`: the analysed sentences of a text, kept bounded; answers do not change."""

from __future__ import annotations

import threading

from snapagent.llm.extractive import ExtractiveAnswerer
from snapagent.llm.quotable import SentenceCache, analyse
from snapagent.llm.relevance import features
from snapagent.llm.sentences import split_sentences
from snapagent.workflow.services import ChatMessage, ChatRequest, RetrievedDocument

TEXT = "# 배포\n\nSnapAgent는 Docker Compose로 배포합니다. The default port is 8000."


def test_analysis_is_what_the_answerer_would_compute() -> None:
    sentences = analyse(TEXT, ("배포",))
    assert [s.text for s in sentences] == split_sentences(TEXT, skip=("배포",))
    assert [s.features for s in sentences] == [features(s.text) for s in sentences]
    assert [s.korean for s in sentences] == [True, False]
    assert sentences[1].joined == "thedefaultportis8000."


def test_kept_per_text_and_headings_least_recently_used_out_first() -> None:
    cache = SentenceCache(max_entries=2)
    first = cache.sentences("One sentence here. Another one.")
    assert cache.sentences("One sentence here. Another one.") is first  # kept
    assert cache.sentences(TEXT, ("배포",)) is not cache.sentences(TEXT, ())  # headings count
    assert len(cache) == 2
    assert cache.sentences("One sentence here. Another one.") is not first  # it went first
    # A read keeps an entry young.
    young = cache.sentences("A. B.")
    cache.sentences("A. B.")
    cache.sentences("C. D.")
    assert cache.sentences("A. B.") is young
    assert len(cache) == 2


def test_zero_entries_keeps_nothing() -> None:
    cache = SentenceCache(max_entries=0)
    assert cache.sentences(TEXT) == analyse(TEXT)
    assert len(cache) == 0


def test_concurrent_answers_share_one_cache_and_answer_as_without_it() -> None:
    docs = tuple(
        RetrievedDocument(
            text=f"문서 {i}: 연차는 입사 {i}년 후 {10 + i}일입니다. Leave is {10 + i} days.",
            score=1.0,
            document_id=f"d{i}",
            document_title=f"규정 {i}",
            knowledge_base_id="kb",
        )
        for i in range(12)
    )
    requests = [
        ChatRequest(messages=[ChatMessage("user", q)], documents=docs[i % 8 : i % 8 + 4])
        for i, q in enumerate(["연차는 며칠인가요?", "How many days of leave?"] * 20)
    ]
    plain = ExtractiveAnswerer(sentence_cache=SentenceCache(0))
    expected = [plain.answer(r) for r in requests]
    shared = ExtractiveAnswerer(sentence_cache=SentenceCache(5))  # smaller than what is asked
    got: list[list[str]] = [[] for _ in range(4)]

    def ask(slot: int) -> None:
        got[slot] = [shared.answer(r) for r in requests]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [expected] * 4
    assert len(shared.sentence_cache) == 5


def test_phrase_overlap_is_the_share_of_question_grams_for_short_and_long_questions() -> None:
    from snapagent.llm.extractive import phrase_overlap

    def by_sets(question: str, sentence: str) -> float:
        def grams(text: str) -> set[str]:
            joined = "".join(text.lower().split())
            return {joined[i : i + 4] for i in range(len(joined) - 3)}

        wanted = grams(question)
        return len(wanted & grams(sentence)) / len(wanted) if wanted else 0.0

    sentences = ["대한민국의 수도는 서울이다.", "The capital of Korea is Seoul 12 13.", "abc"]
    long_question = "capital of Korea " + " ".join(str(n) for n in range(100))  # > 64 grams
    for question in ["수도는 어디?", "What is the capital of Korea?", "x" * 3, long_question]:
        assert phrase_overlap(question, sentences) == [by_sets(question, s) for s in sentences]
