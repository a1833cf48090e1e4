"""Keyword terms: Korean bigrams inside eojeol, whole Latin words, normalised forms."""

from __future__ import annotations

import pytest

from snapagent.knowledge.tokenize import keyword_terms, normalize_text


def test_korean_words_become_overlapping_bigrams() -> None:
    assert keyword_terms("대통령은") == ["대통", "통령", "령은"]


def test_the_stem_is_shared_between_inflected_forms() -> None:
    forms = ["대통령은", "대통령이", "대통령의", "대통령께서"]
    shared = set.intersection(*(set(keyword_terms(f)) for f in forms))
    assert shared == {"대통", "통령"}


def test_single_syllable_words_are_kept() -> None:
    assert keyword_terms("책 한 권") == ["책", "한", "권"]


def test_latin_words_are_whole_and_lower_cased() -> None:
    assert keyword_terms("Hybrid Retrieval, BM25!") == ["hybrid", "retrieval", "bm25"]


def test_mixed_korean_and_english_split_at_the_script_change() -> None:
    assert keyword_terms("API를 호출") == ["api", "를", "호출"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＡＢＣ１２３", ["abc123"]),  # full-width forms
        ("Straße", ["strasse"]),  # case folding, not just lower()
        ("ﬁle", ["file"]),  # ligature
        ("㎞", ["km"]),  # compatibility unit
        ("ㄱㄴ", ["\u1100\u1102"]),  # compatibility jamo become conjoining jamo: one bigram
    ],
)
def test_normalisation(text: str, expected: list[str]) -> None:
    assert keyword_terms(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "!!! ... ---", "😀🎉", "\u200b\ufeff"])
def test_text_without_words_has_no_terms(text: str) -> None:
    assert keyword_terms(text) == []


def test_underscores_and_punctuation_separate_words() -> None:
    assert keyword_terms("snake_case e-mail 3.14") == ["snake", "case", "e", "mail", "3", "14"]


def test_chinese_and_japanese_runs_are_bigrams_too() -> None:
    assert keyword_terms("東京タワー") == ["東京", "京タ", "タワ", "ワー"]


def test_normalize_text_is_nfkc_and_casefold() -> None:
    assert normalize_text("Ｈｅｌｌｏ 세계") == "hello 세계"
