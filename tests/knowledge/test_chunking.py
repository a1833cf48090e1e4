"""chunk_document: structure first, sentences next, tokens last; exact slices; overlap; limits."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapagent.errors import InputValidationError
from snapagent.knowledge.chunking import ChunkDraft, chunk_document, split_sentences
from snapagent.knowledge.parsing import ParsedDocument, parse_document


def words(text: str) -> int:
    return len(text.split())


def chars(text: str) -> int:
    """One token per visible character (whitespace is free, as in subword tokenizers)."""
    return len("".join(text.split()))


def _md(text: str) -> ParsedDocument:
    return parse_document(text.encode(), "doc.md")


def _check_invariants(
    parsed: ParsedDocument, chunks: list[ChunkDraft], count: Callable[[str], int], max_tokens: int
) -> None:
    """Every chunk is an exact, bounded slice; together they cover every character of text."""
    assert [c.index for c in chunks] == list(range(len(chunks)))
    covered = [False] * len(parsed.text)
    for chunk in chunks:
        assert chunk.text == parsed.text[chunk.char_start : chunk.char_end]
        assert chunk.text == chunk.text.strip()
        assert chunk.text
        assert chunk.token_count == count(chunk.text) <= max_tokens
        for i in range(chunk.char_start, chunk.char_end):
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(parsed.text) if not ch.isspace())
    starts = [c.char_start for c in chunks]
    assert starts == sorted(starts)


def test_small_sections_become_one_chunk_each_with_their_heading_path() -> None:
    parsed = _md(
        "# 안내\n\n소개 문단.\n\n## 설치\n\n설치 방법.\n\n- 첫째\n- 둘째\n\n## 사용\n\n사용법."
    )
    chunks = chunk_document(parsed, words, max_tokens=50, overlap_tokens=5)
    assert [c.heading for c in chunks] == ["안내", "안내 > 설치", "안내 > 사용"]
    assert chunks[1].text == "설치\n\n설치 방법.\n\n첫째\n\n둘째"
    _check_invariants(parsed, chunks, words, 50)


def test_a_heading_directly_followed_by_a_subheading_is_not_a_chunk_on_its_own() -> None:
    parsed = _md("# 책\n\n## 1장\n\n본문입니다.")
    [chunk] = chunk_document(parsed, words, max_tokens=50, overlap_tokens=0)
    assert chunk.text == "책\n\n1장\n\n본문입니다."
    assert chunk.heading == "책 > 1장"


def test_paragraphs_are_packed_up_to_the_limit() -> None:
    paragraphs = [f"문단 {i} 의 내용 이다." for i in range(10)]  # 5 words each
    parsed = _md("\n\n".join(paragraphs))
    chunks = chunk_document(parsed, words, max_tokens=16, overlap_tokens=0)
    assert [c.text.count("문단") for c in chunks] == [2, 2, 2, 2, 2]  # 5 + 1 + 5 <= 16 < 17
    _check_invariants(parsed, chunks, words, 16)


def test_long_paragraphs_split_at_korean_sentence_ends_with_overlap() -> None:
    sentences = [f"이것은 {i}번째 문장이다." for i in range(30)] + ["정말 그런가요?", "네 맞아요."]
    parsed = _md(" ".join(sentences))
    chunks = chunk_document(parsed, words, max_tokens=20, overlap_tokens=6)
    _check_invariants(parsed, chunks, words, 20)
    assert len(chunks) > 4
    for before, after in itertools.pairwise(chunks):
        assert after.char_start < before.char_end  # consecutive chunks overlap
        # every chunk ends at a sentence end, and an overlap is whole sentences when it can be
        assert before.text.endswith((".", "?"))
        assert re.match(r"^(이것은|정말|네)", after.text)


def test_korean_sentences_without_spaces_after_the_period_are_split() -> None:
    text = "첫 문장이다.둘째 문장이에요.셋째는 무엇인가요?넷째!"
    assert [text[a:b] for a, b in split_sentences(text)] == [
        "첫 문장이다.",
        "둘째 문장이에요.",
        "셋째는 무엇인가요?",
        "넷째!",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pi is 3.14 today. Next one", ["Pi is 3.14 today.", "Next one"]),
        ("See e.g. this. Done", ["See e.g.", "this.", "Done"]),
        ('그가 "가자." 라고 했다. 끝', ['그가 "가자."', "라고 했다.", "끝"]),
        ("줄바꿈\n다음 줄", ["줄바꿈", "다음 줄"]),
        ("끝없는 문장", ["끝없는 문장"]),
        ("  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert [text[a:b] for a, b in split_sentences(text)] == expected


def test_text_without_sentence_ends_or_spaces_is_cut_by_tokens_with_overlap() -> None:
    parsed = _md("가" * 1000)
    chunks = chunk_document(parsed, chars, max_tokens=100, overlap_tokens=20)
    _check_invariants(parsed, chunks, chars, 100)
    assert 10 <= len(chunks) <= 14
    for before, after in itertools.pairwise(chunks):
        assert 0 < before.char_end - after.char_start <= 20


def test_a_huge_single_paragraph_is_chunked_completely() -> None:
    text = " ".join(f"단어{i}" for i in range(30_000))  # one paragraph, no sentence end
    parsed = parse_document(text.encode(), "huge.txt")
    chunks = chunk_document(parsed, words, max_tokens=256, overlap_tokens=32)
    _check_invariants(parsed, chunks, words, 256)
    assert chunks[-1].text.endswith("단어29999")


def test_mixed_korean_and_english_with_a_real_subword_tokenizer() -> None:
    from snapagent.llm.e5_embeddings import MultilingualE5EmbeddingModel

    # The default embedding model's own SentencePiece tokenizer (bundled, no network).
    count = MultilingualE5EmbeddingModel().count_tokens

    body = " ".join(
        f"서울특별시는 대한민국의 수도이며 Seoul Metropolitan Government 가 {i}번 관리한다."
        for i in range(40)
    )
    parsed = _md(f"# 서울 Seoul\n\n{body}\n\n## 교통\n\n지하철 subway 노선이 많다.")
    chunks = chunk_document(parsed, count, max_tokens=128, overlap_tokens=16)
    _check_invariants(parsed, chunks, count, 128)
    assert chunks[-1].heading == "서울 Seoul > 교통"
    assert chunks[-1].text.startswith("교통")


def test_chunking_is_deterministic() -> None:
    parsed = _md("# 제목\n\n" + " ".join(f"문장 {i} 이다." for i in range(200)))
    first = chunk_document(parsed, words, max_tokens=30, overlap_tokens=8)
    assert chunk_document(parsed, words, max_tokens=30, overlap_tokens=8) == first


def test_pdf_pages_are_kept_on_chunks() -> None:
    from snapagent.knowledge.parsing import Block

    parsed = ParsedDocument(
        "t",
        "pdf",
        (
            Block("paragraph", "첫 쪽 의 긴 문단", page=1),
            Block("paragraph", "둘째 쪽 의 긴 문단", page=2),
        ),
    )
    chunks = chunk_document(parsed, words, max_tokens=8, overlap_tokens=0)
    assert [(c.page, c.text) for c in chunks] == [
        (1, "첫 쪽 의 긴 문단"),
        (2, "둘째 쪽 의 긴 문단"),
    ]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(4, 0), (100, 51), (100, -1)])
def test_invalid_limits_are_rejected(max_tokens: int, overlap: int) -> None:
    with pytest.raises(InputValidationError):
        chunk_document(_md("text"), words, max_tokens=max_tokens, overlap_tokens=overlap)


_WORD = st.sampled_from(["서울", "부산은", "항구다.", "Seoul", "is", "big.", "왜요?", "가" * 30])
_PARAGRAPH = st.lists(_WORD, min_size=1, max_size=60).map(" ".join)
_SECTION = st.tuples(
    st.sampled_from(["# A", "## B", "### C", ""]), st.lists(_PARAGRAPH, max_size=4)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_SECTION, min_size=1, max_size=5),
    st.integers(8, 60),
    st.integers(0, 4),
)
def test_invariants_hold_for_any_document(
    sections: list[tuple[str, list[str]]], max_tokens: int, overlap: int
) -> None:
    source = "\n\n".join(f"{h}\n\n" + "\n\n".join(ps) for h, ps in sections)
    if not source.strip().strip("#AB C"):
        return
    parsed = _md(source)
    chunks = chunk_document(parsed, chars, max_tokens=max_tokens, overlap_tokens=overlap)
    _check_invariants(parsed, chunks, chars, max_tokens)
