"""`encode_event`: one ``data:`` line of compact JSON (non-ASCII kept, unknown types as
``str``), the same text `json.dumps` with those options writes, for hostile payloads too."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from snapagent.api.sse import encode_event

PAYLOADS: list[Any] = [
    {"node_id": "llm", "text": '연차는 15일 \u2028 \u2029 "quoted" \\ back\nslash\r\t\x00\x1f'},
    {"usage": {"input_tokens": 8, "total": 2**70}, "elapsed_ms": 0.51, "nan": float("nan")},
    {"when": dt.datetime(2026, 12, 7, 9, 50, tzinfo=dt.UTC), "set": {1}, "none": None},
    [1, "two", {"three": [True, False]}, (4, 5)],
    {"emoji": "🙂", 1: "int key", None: "null key"},
    "a plain string",
    {},
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_frames_are_the_json_dumps_text(payload: Any) -> None:
    expected = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    frame = encode_event(("text", payload))
    assert frame == f"event: text\ndata: {expected}\n\n".encode()
    assert frame.count(b"\n") == 3  # one data line, whatever the payload holds


def test_an_unencodable_payload_leaves_the_next_frame_intact() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises((ValueError, RecursionError)):
        encode_event(("text", loop))
    assert encode_event(("text", {"a": [1]})) == b'event: text\ndata: {"a":[1]}\n\n'
