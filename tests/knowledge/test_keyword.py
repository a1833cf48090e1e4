"""BM25Index: ranking, Korean matching, incremental add/remove/replace, filters, bad input."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapagent.errors import InputValidationError
from snapagent.knowledge.keyword import BM25Index

DOCS = {
    "seoul": "서울은 대한민국의 수도이며 가장 큰 도시이다.",
    "busan": "부산은 대한민국 제2의 도시이자 최대의 항구 도시이다.",
    "jeju": "제주도는 화산섬으로 한라산이 있다.",
    "python": "Python is a programming language with a large standard library.",
}


def _index(docs: dict[str, str] = DOCS) -> BM25Index:
    index = BM25Index()
    index.add(list(docs), list(docs.values()))
    return index


def _scores(index: BM25Index, query: str) -> dict[str, float]:
    return dict(index.search(query, top_k=10_000))


def test_the_matching_document_ranks_first() -> None:
    index = _index()
    assert index.search("한국의 수도는 어디인가?", top_k=1)[0][0] == "seoul"
    assert index.search("항구", top_k=1)[0][0] == "busan"
    assert index.search("standard LIBRARY", top_k=1)[0][0] == "python"


def test_korean_particles_do_not_prevent_a_match() -> None:
    index = _index()
    # "한라산은" never occurs; "한라산이" does.
    assert index.search("한라산은", top_k=1)[0][0] == "jeju"


def test_scores_are_positive_and_sorted() -> None:
    hits = _index().search("대한민국 도시", top_k=10)
    assert {doc_id for doc_id, _ in hits} == {"busan", "seoul"}
    assert all(score > 0 for _, score in hits)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)


def test_bm25_formula_on_a_tiny_corpus() -> None:
    index = BM25Index(k1=1.2, b=0.75)
    index.add(["a", "b"], ["apple apple pie", "banana"])
    # "apple": df=1, N=2 -> idf=ln(1 + 1.5/1.5); doc a has tf=2, length 3, avg length 2.
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 2 * 2.2 / (2 + 1.2 * (1 - 0.75 + 0.75 * 3 / 2))
    [(doc_id, score)] = index.search("apple", top_k=5)
    assert doc_id == "a"
    assert score == pytest.approx(expected, rel=1e-5)


def test_removed_documents_are_never_returned_and_scores_match_a_fresh_index() -> None:
    index = _index()
    index.remove(["seoul", "unknown-id"])
    assert "seoul" not in index
    assert len(index) == 3
    fresh = _index({k: v for k, v in DOCS.items() if k != "seoul"})
    for query in ("대한민국의 수도", "도시", "programming"):
        assert _scores(index, query) == pytest.approx(_scores(fresh, query))


def test_adding_an_existing_id_replaces_its_text() -> None:
    index = _index()
    index.add(["jeju"], ["Jeju now talks about volcanoes"])
    assert len(index) == 4
    assert index.search("한라산", top_k=5) == []
    assert index.search("volcanoes", top_k=5)[0][0] == "jeju"


def test_allowed_ids_filter_the_result() -> None:
    index = _index()
    hits = index.search("대한민국 도시", top_k=10, allowed_ids={"busan", "missing"})
    assert [doc_id for doc_id, _ in hits] == ["busan"]
    assert index.search("대한민국", top_k=10, allowed_ids=[]) == []


@pytest.mark.parametrize("query", ["", "   ", "?!", "없는단어조합"])
def test_queries_without_known_terms_return_nothing(query: str) -> None:
    assert _index().search(query, top_k=5) == []


def test_empty_index_and_non_positive_top_k() -> None:
    assert BM25Index().search("서울", top_k=5) == []
    assert _index().search("서울", top_k=0) == []


def test_equal_scores_keep_insertion_order() -> None:
    index = BM25Index()
    index.add(["z", "a", "m"], ["같은 문장", "같은 문장", "같은 문장"])
    assert [doc_id for doc_id, _ in index.search("같은 문장", top_k=3)] == ["z", "a", "m"]


def test_mismatched_ids_and_texts_are_rejected() -> None:
    with pytest.raises(InputValidationError) as info:
        BM25Index().add(["a", "b"], ["only one"])
    assert info.value.field == "ids"


def test_duplicate_ids_in_one_add_are_rejected_and_nothing_is_stored() -> None:
    index = BM25Index()
    with pytest.raises(InputValidationError) as info:
        index.add(["a", "a"], ["첫째", "둘째"])
    assert info.value.field == "ids"
    assert len(index) == 0
    assert index.search("첫째") == []


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(InputValidationError):
        BM25Index(b=1.5)


def test_compaction_after_many_removals_keeps_results_exact() -> None:
    rng = random.Random(7)
    words = ["서울", "부산", "항구", "도시", "수도", "섬", "산", "강", "바다", "다리"]
    docs = {f"d{i}": " ".join(rng.choices(words, k=8)) for i in range(3000)}
    index = _index(docs)
    removed = [f"d{i}" for i in range(0, 3000, 3)] + [f"d{i}" for i in range(1, 3000, 3)]
    index.remove(removed)
    assert index._dead == 0  # compacted
    kept = {k: v for k, v in docs.items() if k not in set(removed)}
    fresh = _index(kept)
    for query in ("서울 항구", "바다 다리", "섬"):
        assert _scores(index, query) == pytest.approx(_scores(fresh, query))
    index.add(["new"], ["유일한 단어와 서울"])  # the compacted index still takes additions
    assert [doc_id for doc_id, _ in index.search("유일한", top_k=5)] == ["new"]
    assert len(index) == len(kept) + 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(), st.integers(0, 15), st.sampled_from(["가나 다라", "라마 바", "x y"])
        ),
        max_size=30,
    )
)
def test_any_add_remove_sequence_equals_a_fresh_index(ops: list[tuple[bool, int, str]]) -> None:
    index = BM25Index()
    expected: dict[str, str] = {}
    for is_add, n, text in ops:
        doc_id = f"id{n}"
        if is_add:
            index.add([doc_id], [f"{text} {n}"])
            expected[doc_id] = f"{text} {n}"
        else:
            index.remove([doc_id])
            expected.pop(doc_id, None)
    fresh = _index(expected)
    for query in ("가나", "라마 x", "y 3"):
        assert _scores(index, query) == pytest.approx(_scores(fresh, query))
    assert len(index) == len(expected)
