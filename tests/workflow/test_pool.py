"""`VariablePool`: values per (node, port), nested paths, sys values, snapshot, size cap."""

from __future__ import annotations

import pytest

from snapagent.errors import VariableError
from snapagent.workflow import ValueSelector, VariablePool
from snapagent.workflow.pool import approximate_size


def sel(*parts: str | int) -> ValueSelector:
    return ValueSelector(parts)


def test_values_and_nested_paths() -> None:
    pool = VariablePool()
    docs = [{"text": "a", "meta": {"page": 3}}, {"text": "b"}]
    pool.set_outputs("kb", {"documents": docs, "count": 2})
    assert pool.get(sel("kb", "documents")) is docs  # stored as given, no copy
    assert pool.get(sel("kb", "documents", 0, "meta", "page")) == 3
    assert pool.get(sel("kb", "documents", -1, "text")) == "b"
    assert pool.has("kb", "count")
    assert not pool.has("kb", "nope")
    assert pool.get(sel("kb", "missing"), None) is None


def test_missing_values_and_paths_raise_clear_errors() -> None:
    pool = VariablePool()
    pool.set_outputs("kb", {"documents": [{"text": "a"}]})
    with pytest.raises(VariableError, match=r"no value at llm\.text"):
        pool.get(sel("llm", "text"))
    with pytest.raises(VariableError, match=r"path kb\.documents\.5 does not exist"):
        pool.get(sel("kb", "documents", 5, "text"))
    with pytest.raises(VariableError, match=r"kb\.documents\.0\.title does not exist"):
        pool.get(sel("kb", "documents", 0, "title"))
    with pytest.raises(VariableError) as info:
        pool.get(sel("sys", "bot_id"))
    assert "sys value" in str(info.value)
    assert isinstance(info.value, KeyError)  # the builtin family it resembles


def test_sys_values() -> None:
    pool = VariablePool(sys={"bot_id": "b1", "run_id": "r1"})
    assert pool.get(sel("sys", "bot_id")) == "b1"
    assert pool.sys == {"bot_id": "b1", "run_id": "r1"}


def test_snapshot_is_a_deep_copy() -> None:
    pool = VariablePool(sys={"run_id": "r"})
    value = {"nested": [1, 2]}
    pool.set_outputs("n", {"v": value})
    pool.set("n", "w", 3)
    snap = pool.snapshot()
    value["nested"].append(3)
    assert snap == {"sys": {"run_id": "r"}, "n": {"v": {"nested": [1, 2]}, "w": 3}}
    assert len(pool) == 3


def test_size_cap_per_value() -> None:
    pool = VariablePool(max_value_bytes=100)
    pool.set_outputs("n", {"ok": "x" * 100, "n": 5})
    with pytest.raises(VariableError, match="over the 100 byte limit") as info:
        pool.set_outputs("big", {"text": "x" * 101})
    assert info.value.details == {"port": "text", "size": 101, "limit": 100}
    with pytest.raises(VariableError, match=r"big\.docs"):
        pool.set_outputs("big", {"docs": [{"text": "y" * 60}, {"text": "z" * 60}]})
    assert not pool.has("big", "docs")  # nothing partial was stored


def test_approximate_size_counts_text_and_stops_at_the_limit() -> None:
    assert approximate_size("abc", 10) == 3
    assert approximate_size({"ab": "cd", "n": 1}, 100) == 2 + 2 + 1 + 8
    assert approximate_size([["a" * 5], ("b" * 5,)], 100) == 10
    huge = ["x" * 10] * 1_000_000
    assert 100 < approximate_size(huge, 100) <= 110  # stopped early
