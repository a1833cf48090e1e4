"""VectorIndex: exact cosine top-k vs brute force, growth, swap-with-last removal, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from snapagent.errors import InputValidationError
from snapagent.knowledge import vector_index
from snapagent.knowledge.vector_index import VectorIndex


def _brute_force(vectors: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    q = query / np.linalg.norm(query)
    scored = [(float(v @ q / np.linalg.norm(v)), key) for key, v in vectors.items()]
    return [key for _, key in sorted(scored, key=lambda s: -s[0])[:k]]


def test_top_k_matches_brute_force_across_growth_and_removals() -> None:
    rng = np.random.default_rng(3)
    index = VectorIndex(16, initial_capacity=4)  # forces several doublings
    vectors = {f"v{i}": rng.normal(size=16).astype(np.float32) for i in range(500)}
    index.add(list(vectors), np.stack(list(vectors.values())))
    for key in [f"v{i}" for i in range(0, 500, 7)] + ["v499", "v1"]:
        index.remove([key])
        del vectors[key]
    assert len(index) == len(vectors)
    for _ in range(20):
        query = rng.normal(size=16).astype(np.float32)
        hits = index.search(query, top_k=10)
        assert [key for key, _ in hits] == _brute_force(vectors, query, 10)
        assert all(-1.0 - 1e-5 <= score <= 1.0 + 1e-5 for _, score in hits)


def test_scores_are_cosine_similarities_whatever_the_input_norm() -> None:
    index = VectorIndex(2)
    index.add(["x", "diag"], np.array([[10.0, 0.0], [3.0, 3.0]], dtype=np.float32))
    hits = dict(index.search(np.array([0.0, 5.0]), top_k=2))
    assert hits["diag"] == pytest.approx(np.sqrt(0.5), rel=1e-6)
    assert hits["x"] == pytest.approx(0.0, abs=1e-6)


def test_adding_an_existing_id_replaces_its_vector() -> None:
    index = VectorIndex(2)
    index.add(["a", "b"], [[1.0, 0.0], [0.0, 1.0]])
    index.add(["a"], [[0.0, 1.0]])
    assert len(index) == 2
    assert dict(index.search([0.0, 1.0], top_k=2))["a"] == pytest.approx(1.0)


def test_allowed_ids_search_only_those_rows() -> None:
    index = VectorIndex(2)
    index.add(["a", "b", "c"], [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    assert [k for k, _ in index.search([1.0, 0.0], top_k=5, allowed_ids={"c", "zz"})] == ["c"]
    assert index.search([1.0, 0.0], top_k=5, allowed_ids=set()) == []


def test_removing_everything_and_unknown_ids() -> None:
    index = VectorIndex(3)
    index.add(["a", "b"], np.eye(3, dtype=np.float32)[:2])
    index.remove(["a", "nope", "b", "a"])
    assert len(index) == 0
    assert index.search([1.0, 0.0, 0.0], top_k=3) == []
    index.add(["c"], [[0.0, 0.0, 1.0]])
    assert index.search([0.0, 0.0, 1.0], top_k=3)[0][0] == "c"


def test_the_matrix_shrinks_after_most_rows_are_removed() -> None:
    index = VectorIndex(4, initial_capacity=16)
    ids = [str(i) for i in range(5000)]
    index.add(ids, np.ones((5000, 4), dtype=np.float32))
    index.remove(ids[:4900])
    assert index._matrix.shape[0] < 5000
    assert sorted(k for k, _ in index.search(np.ones(4), top_k=200)) == sorted(ids[4900:])


def test_equal_scores_are_ordered_by_row() -> None:
    index = VectorIndex(2)
    index.add(["p", "q", "r"], [[1.0, 1.0]] * 3)
    assert [k for k, _ in index.search([1.0, 1.0], top_k=3)] == ["p", "q", "r"]


def test_a_zero_vector_is_stored_but_matches_nothing() -> None:
    index = VectorIndex(2)
    index.add(["zero", "one"], [[0.0, 0.0], [1.0, 0.0]])
    hits = dict(index.search([1.0, 0.0], top_k=2))
    assert hits == {"one": pytest.approx(1.0), "zero": pytest.approx(0.0)}


@pytest.mark.parametrize(
    ("ids", "vectors", "field"),
    [
        (["a"], [[1.0, 2.0]], "vectors"),  # wrong dimension
        (["a", "b"], [[1.0, 2.0, 3.0]], "vectors"),  # count mismatch
        (["a"], [[np.nan, 0.0, 0.0]], "vectors"),
        (["a"], [[np.inf, 0.0, 0.0]], "vectors"),
        (["a", "a"], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], "ids"),
    ],
)
def test_bad_vectors_are_rejected_and_nothing_is_stored(
    ids: list[str], vectors: list[list[float]], field: str
) -> None:
    index = VectorIndex(3)
    with pytest.raises(InputValidationError) as info:
        index.add(ids, vectors)
    assert info.value.field == field
    assert len(index) == 0


def test_bad_queries_and_dimensions_are_rejected() -> None:
    with pytest.raises(InputValidationError):
        VectorIndex(0)
    index = VectorIndex(3)
    index.add(["a"], [[1.0, 0.0, 0.0]])
    with pytest.raises(InputValidationError):
        index.search([1.0, 0.0], top_k=1)
    assert index.search([1.0, 0.0, 0.0], top_k=0) == []


def test_the_blas_thread_setting_does_not_change_results() -> None:
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    ids = [str(i) for i in range(3000)]
    single, default = VectorIndex(32), VectorIndex(32, blas_threads=None)
    single.add(ids, vectors)
    default.add(ids, vectors)
    query = rng.normal(size=32)
    first, second = single.search(query, top_k=20), default.search(query, top_k=20)
    assert [k for k, _ in first] == [k for k, _ in second]
    assert [s for _, s in first] == pytest.approx([s for _, s in second])


def test_a_search_leaves_numpy_blas_on_one_thread_for_the_process() -> None:
    from threadpoolctl import threadpool_info, threadpool_limits  # type: ignore[import-untyped]

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):  # as if the library default were 2
        vector_index._limit_blas_threads.cache_clear()  # as in a fresh process
        index = VectorIndex(4)
        index.add(["a", "b"], [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
        index.search([1.0, 0.0, 0.0, 0.0], top_k=1)
        if blas_threads():  # numpy without a BLAS it can limit: nothing to see
            assert blas_threads() == {1}
