"""The fake provider servers themselves: frame encoding, the request log, the process entry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from snapagent.llm.openai_model import OpenAIChatModel
from snapagent.llm.retry import RetryPolicy
from snapagent.testing.providers.eventstream import encode_event, encode_exception
from snapagent.workflow.services import ChatMessage, ChatRequest


def test_event_frames_decode_with_botocore_and_checksums_hold() -> None:
    frame = encode_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "안녕"}})
    buffer = EventStreamBuffer()
    buffer.add_data(frame + encode_exception("throttlingException", "slow down"))

    event, exception = list(buffer)

    assert event.headers[":event-type"] == "contentBlockDelta"
    assert event.headers[":message-type"] == "event"
    assert json.loads(event.payload) == {"contentBlockIndex": 0, "delta": {"text": "안녕"}}
    assert exception.headers[":exception-type"] == "throttlingException"

    corrupted = bytearray(frame)
    corrupted[-6] ^= 0xFF  # a payload byte: the message CRC no longer matches
    broken = EventStreamBuffer()
    broken.add_data(bytes(corrupted))
    with pytest.raises(ChecksumMismatch):
        list(broken)


async def test_server_runs_in_its_own_process() -> None:
    process = subprocess.Popen(  # noqa: ASYNC220 - a one-off start, nothing else is running
        [sys.executable, "-m", "snapagent.testing.providers", "openai", "--text", "from afar"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        model = OpenAIChatModel("gpt-x", api_key=None, base_url=base_url, retry=RetryPolicy())
        result = await model.complete(ChatRequest(messages=[ChatMessage("user", "hi")]))
        await model.aclose()
    finally:
        process.communicate(timeout=30)

    assert result.text == "from afar"
    assert process.returncode == 0
