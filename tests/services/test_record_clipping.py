"""`clip_values`: what a run record keeps of each value - plain JSON as it is (measured by its
JSON text, non-ASCII counted as characters), objects without a JSON form as what `json.dumps`
makes of them, anything longer than the cap as a marked preview."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from snapagent.services.run_recorder import TRUNCATION_MARKER, clip_values


def test_plain_values_under_the_cap_are_kept_as_they_are() -> None:
    usage = {"input_tokens": 8, "total": 2**70, "ratio": 0.5, "nan": float("nan")}
    messages = [{"role": "user", "content": "연차는 며칠인가요?"}, None, True]
    kept, clipped = clip_values({"usage": usage, "messages": messages, "n": 3}, cap=200)
    assert kept["usage"] is usage
    assert kept["messages"] is messages
    assert clipped == []


@pytest.mark.parametrize(
    "value",
    [
        ["연" * 60],  # 62 characters of JSON (more in bytes, or with ensure_ascii)
        {"docs": [{"text": "y" * 300}]},
        {1: "int key", None: "null key", "q": '"quoted"\n'},
    ],
)
def test_plain_values_over_the_cap_become_a_marked_preview(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    kept, clipped = clip_values({"v": value}, cap=len(text) - 1)
    assert kept["v"] == {TRUNCATION_MARKER: True, "original_chars": len(text), "preview": text[:-1]}
    assert clipped == ["v"]
    assert clip_values({"v": value}, cap=len(text))[0]["v"] is value  # exactly at the cap


def test_values_without_a_json_form_are_stored_as_json_dumps_makes_them() -> None:
    when = dt.datetime(2026, 12, 7, 10, 0)
    kept, clipped = clip_values(
        {"when": when, "nested": {"a": {1}, "b": [when]}, "plain": {"c": 1}}, cap=1000
    )
    assert kept == {"when": str(when), "nested": {"a": "{1}", "b": [str(when)]}, "plain": {"c": 1}}
    assert clipped == []


def test_a_value_holding_itself_is_refused_as_before() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        clip_values({"loop": loop}, cap=1000)
