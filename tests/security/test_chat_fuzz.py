"""Generated chat requests against a real `snapagent serve`, streamed and not: never a 5xx.

`tests/api/test_schemathesis.py` fuzzes every operation, but its bot is never published, so
chat stops at 409 before any run; here the bot is published (start -> template -> end), so
generated messages and session ids go all the way through the run, the stream and the store.
Bounded: a fixed number of derandomized examples.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replicas.live import live

from .test_hostile_input import ECHO_GRAPH

EXAMPLES = 40


@dataclass(frozen=True)
class LiveChat:
    base: str
    headers: dict[str, str]
    bot_id: str


@pytest.fixture(scope="module")
def live_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChat]:
    tmp: Path = tmp_path_factory.mktemp("chat-fuzz")
    url = f"sqlite+aiosqlite:///{tmp / 'snapagent.db'}"
    server = live.start_server(live.server_env(url, tmp / "data"), tmp, "--log-level", "warning")
    try:
        live.wait_ready(server)
        headers, bot_id = asyncio.run(live.seed(server.base, ECHO_GRAPH))
        yield LiveChat(server.base, headers, bot_id)
    finally:
        live.stop_all([server])


messages = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["{{ 7*7 }}", "{% raw %}", "'; DROP TABLE bots; --", "\x00", "\ud7ff"]),
)
sessions = st.one_of(st.none(), st.text(max_size=80), st.from_regex(r"[A-Za-z0-9._:\-]{1,64}"))


@given(message=messages, session_id=sessions, stream=st.booleans())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_generated_chats_never_cause_a_server_error(
    live_chat: LiveChat, message: str, session_id: str | None, stream: bool
) -> None:
    body = {"bot_id": live_chat.bot_id, "message": message, "stream": stream}
    if session_id is not None:
        body["session_id"] = session_id
    response = httpx.post(
        f"{live_chat.base}/api/v1/chat", json=body, headers=live_chat.headers, timeout=30
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        return
    if not stream:
        assert response.json()["answer"] == f"You said: {message}"
        return
    last = [line for line in response.text.splitlines() if line.startswith("event: ")][-1]
    data = [line for line in response.text.splitlines() if line.startswith("data: ")][-1]
    assert last == "event: message", response.text
    assert json.loads(data[6:])["answer"] == f"You said: {message}"
