"""Fusion: weighted and RRF formulas, graceful degradation, language gating, config checks."""

from __future__ import annotations

import random

import pytest

from snapagent.errors import DefinitionError
from snapagent.knowledge.fusion import (
    FusionConfig,
    RerankCandidate,
    Reranker,
    agreement,
    fuse,
    script_coverage,
)


def test_weighted_fusion_normalises_each_list_and_weights_them() -> None:
    config = FusionConfig(vector_weight=0.25, keyword_weight=0.75)
    keyword = [("a", 20.0), ("b", 10.0), ("c", 0.0)]
    vector = [("c", 0.9), ("b", 0.5), ("a", 0.1)]
    fused = dict(fuse(keyword, vector, config))
    assert fused["a"] == pytest.approx(0.75 * 1.0 + 0.25 * 0.0)
    assert fused["b"] == pytest.approx(0.75 * 0.5 + 0.25 * 0.5)
    assert fused["c"] == pytest.approx(0.75 * 0.0 + 0.25 * 1.0)


def test_a_hit_found_by_both_sides_beats_one_found_by_one() -> None:
    fused = fuse([("x", 5.0), ("both", 4.9)], [("both", 0.8), ("y", 0.79)], FusionConfig())
    assert fused[0][0] == "both"
    assert {doc_id for doc_id, _ in fused} == {"x", "both", "y"}


def test_scores_stay_within_zero_and_one() -> None:
    rng = random.Random(1)
    keyword = [(f"k{i}", rng.uniform(0, 40)) for i in range(30)]
    vector = [(f"k{i}", rng.uniform(-1, 1)) for i in range(0, 60, 2)]
    for _, score in fuse(keyword, vector, FusionConfig()):
        assert 0.0 <= score <= 1.0


def test_one_empty_side_keeps_the_other_order() -> None:
    keyword = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    assert [d for d, _ in fuse(keyword, [], FusionConfig())] == ["a", "b", "c"]
    assert [d for d, _ in fuse([], keyword, FusionConfig())] == ["a", "b", "c"]
    assert fuse([], [], FusionConfig()) == []


def test_a_list_of_equal_scores_counts_fully() -> None:
    fused = dict(fuse([("a", 2.0), ("b", 2.0)], [], FusionConfig()))
    assert fused == {"a": pytest.approx(0.7), "b": pytest.approx(0.7)}


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    config = FusionConfig(method="rrf", vector_weight=1.0, keyword_weight=1.0, rrf_k=60)
    fused = dict(fuse([("a", 9.0), ("b", 1.0)], [("b", 0.9), ("c", 0.1)], config))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)


def test_ties_keep_keyword_order_first() -> None:
    fused = fuse(
        [("k1", 1.0), ("k2", 1.0)],
        [("v1", 0.5), ("v2", 0.5)],
        FusionConfig(vector_weight=0.5, keyword_weight=0.5),
    )
    assert [d for d, _ in fused] == ["k1", "k2", "v1", "v2"]


def test_ties_between_ids_found_by_both_sides_follow_the_keyword_order() -> None:
    keyword = [("a", 1.0), ("b", 1.0)]
    vector = [("b", 0.5), ("a", 0.5)]
    assert [d for d, _ in fuse(keyword, vector, FusionConfig())] == ["a", "b"]


def test_a_noise_vector_side_cannot_overturn_a_clear_keyword_winner() -> None:
    """Graceful degradation: with the default weights, a random vector list never moves the
    clear keyword winner (score margin over the runner-up > the vector weight's share)."""
    rng = random.Random(5)
    ids = [f"c{i}" for i in range(40)]
    keyword = [("answer", 30.0)] + [(i, rng.uniform(0, 10)) for i in ids]
    for _ in range(50):
        noise = [(i, rng.uniform(0.1, 0.4)) for i in [*ids, "answer"]]
        rng.shuffle(noise)
        assert fuse(keyword, noise, FusionConfig())[0][0] == "answer"


def test_for_query_drops_the_vector_side_for_an_uncovered_script() -> None:
    config = FusionConfig()
    korean = config.for_query("임종석이 지명수배 된 날은?", ["en"])
    assert korean.vector_weight == 0.0
    assert not korean.uses_vector
    assert korean.keyword_weight == config.keyword_weight
    assert config.for_query("임종석이 지명수배 된 날은?", ["en", "ko"]) is config
    assert config.for_query("When was it?", ["en"]) is config
    assert config.for_query("아무 질문", None) is config
    assert config.for_query("아무 질문", ["multilingual"]) is config


def test_without_a_vector_side_fusion_equals_keyword_ranking() -> None:
    keyword = [("a", 5.0), ("b", 4.0), ("c", 1.0)]
    gated = FusionConfig().for_query("한국어 질문", ["en"])
    assert [d for d, _ in fuse(keyword, [("c", 0.99)], gated)] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("text", "languages", "expected"),
    [
        ("서울", ["en"], 0.0),
        ("서울", ["ko"], 1.0),
        ("Seoul", ["ko"], 0.0),
        ("Seoul", ["de"], 1.0),
        ("abc 가나다라", ["en"], 3 / 7),
        ("東京", ["ja"], 1.0),
        ("東京", ["ko"], 1.0),  # Hanja are read in Korean text too
        ("Москва", ["en"], 0.0),
        ("Москва", ["ru"], 1.0),
        ("1234 ?!", ["en"], 1.0),  # no letters: no evidence against the model
        ("", ["en"], 1.0),
        ("서울", ["KO"], 1.0),
    ],
)
def test_script_coverage(text: str, languages: list[str], expected: float) -> None:
    assert script_coverage(text, languages) == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "max"},
        {"vector_weight": -0.1},
        {"vector_weight": 0.0, "keyword_weight": 0.0},
        {"rrf_k": 0},
        {"candidate_multiplier": 0},
        {"full_agreement": 1.5},
    ],
)
def test_invalid_configs_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(DefinitionError):
        FusionConfig(**kwargs)  # type: ignore[arg-type]


def test_candidates_multiplies_top_k() -> None:
    assert FusionConfig(candidate_multiplier=5).candidates(4) == 20
    assert FusionConfig().candidates(0) == 4


async def test_a_reranker_satisfies_the_protocol_and_reorders() -> None:
    class ShortestFirst:
        async def rerank(
            self, query: str, candidates: list[RerankCandidate]
        ) -> list[tuple[str, float]]:
            ranked = sorted(candidates, key=lambda c: len(c.text))
            return [(c.id, 1.0 / (1 + len(c.text))) for c in ranked]

    reranker = ShortestFirst()
    assert isinstance(reranker, Reranker)
    result = await reranker.rerank(
        "q", [RerankCandidate("a", "long text", 0.9), RerankCandidate("b", "short", 0.1)]
    )
    assert [doc_id for doc_id, _ in result] == ["b", "a"]


def test_agreement_is_the_shared_share_of_the_top_ten() -> None:
    keyword = [(f"d{i}", 10.0 - i) for i in range(20)]
    vector = [(f"d{i}", 0.9) for i in (0, 2, 4, 30, 31, 32, 33, 34, 35, 36)]
    assert agreement(keyword, vector) == pytest.approx(0.3)
    assert agreement(keyword[:2], vector) == pytest.approx(0.5)  # depth = the shorter list
    assert agreement([], vector) == 0.0


def test_a_vector_side_that_disagrees_with_keywords_loses_its_say() -> None:
    """An embedding model that does not understand the language returns unrelated neighbours;
    fused with full weight it would promote them, with agreement scaling it cannot."""
    keyword = [("answer", 10.0), ("near", 8.0)] + [(f"k{i}", 5.0 - i / 10) for i in range(8)]
    unrelated = [("near", 0.9)] + [(f"v{i}", 0.8 - i / 100) for i in range(9)]
    assert fuse(keyword, unrelated, FusionConfig(full_agreement=0))[0][0] == "near"
    fused = fuse(keyword, unrelated, FusionConfig())
    assert fused[0][0] == "answer"
    assert dict(fused)["v0"] < 0.1  # scaled by agreement 0.1 / 0.5 -> vector weight 0.06


def test_agreeing_sides_keep_their_full_weights() -> None:
    keyword = [(f"d{i}", 10.0 - i) for i in range(10)]
    order = (1, 0, *range(2, 10))
    vector = [(f"d{i}", 0.9 - rank / 100) for rank, i in enumerate(order)]
    fused = dict(fuse(keyword, vector, FusionConfig()))
    assert fused["d1"] == pytest.approx(0.7 * 0.9 + 0.3 * 1.0)


def test_rrf_is_protected_by_agreement_scaling_too() -> None:
    keyword = [("answer", 3.0), ("b", 2.0), ("c", 1.0)]
    unrelated = [("x", 0.9), ("y", 0.8), ("z", 0.7)]
    config = FusionConfig(method="rrf", vector_weight=1.0, keyword_weight=1.0)
    assert [d for d, _ in fuse(keyword, unrelated, config)][:3] == ["answer", "b", "c"]
