"""SIGTERM on a real `snapagent serve`: in-flight requests finish within the grace period; a
streamed chat still open after it is cancelled and recorded ``cancelled``; the process exits.

The model is the fake OpenAI server (loopback): one slow stream (20 s of chunks) and one
answer that takes 1.5 s, both in flight when the signal arrives, with a 3 s grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from replicas.live import live
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.session import Database
from snapagent.testing.providers.openai_server import OpenAIFakeServer
from snapagent.testing.providers.script import Reply

GRACE_S = 3


@pytest.fixture
def fake_openai() -> Iterator[OpenAIFakeServer]:
    with OpenAIFakeServer(default_reply=Reply("default answer")) as server:
        yield server


async def _first_text(lines: AsyncIterator[str], seen: dict[str, Any]) -> None:
    event = ""
    async for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "session":
            seen.update(json.loads(line[6:]))
        elif line.startswith("data: ") and event == "text":
            return


async def test_sigterm_lets_requests_finish_and_records_open_streams_cancelled(
    tmp_path: Path, fake_openai: OpenAIFakeServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'snapagent.db'}"
    env = live.server_env(
        url, tmp_path / "data", OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="test-key"
    )
    server = live.start_server(env, tmp_path, "--graceful-timeout", str(GRACE_S))
    try:
        await asyncio.to_thread(live.wait_ready, server)
        headers, bot_id = await live.seed(server.base, live.model_graph("openai:gpt-test"))
        fake_openai.enqueue(
            Reply(" ".join(["slow"] * 40), chunk_delay=0.5),  # the stream: ~20 s
            Reply("finished within the grace period", delay=1.5),  # the blocking chat
        )
        async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
            stream_body = {"bot_id": bot_id, "message": "stream please", "stream": True}
            session: dict[str, Any] = {}
            async with http.stream("POST", "/api/v1/chat", json=stream_body, headers=headers) as r:
                lines = r.aiter_lines()
                await _first_text(lines, session)  # the run is producing text now
                fake_openai.request_received.clear()
                blocking = asyncio.create_task(
                    http.post(
                        "/api/v1/chat", json={"bot_id": bot_id, "message": "quick"}, headers=headers
                    )
                )
                # The blocking run reached the model: both requests are in flight now.
                assert await asyncio.to_thread(fake_openai.request_received.wait, 30)
                signalled = time.monotonic()
                server.process.terminate()  # SIGTERM
                answer = await blocking
                rest: list[str] = []
                with contextlib.suppress(httpx.RemoteProtocolError):  # cut mid-stream
                    rest += [line async for line in lines]
            stream_closed_after = time.monotonic() - signalled
        code = await asyncio.to_thread(server.process.wait, 60)
    finally:
        await asyncio.to_thread(live.stop_all, [server])

    assert answer.status_code == 200, answer.text  # in flight at SIGTERM, finished in grace
    assert answer.json()["answer"] == "finished within the grace period"
    assert not any(line == "event: message" for line in rest)  # the stream never completed
    assert stream_closed_after >= GRACE_S - 0.5  # ...and was kept open for the grace period
    # uvicorn re-raises the signal after a clean shutdown: "terminated by SIGTERM" is expected.
    assert code in (0, -signal.SIGTERM), server.log()[-3000:]
    assert "Application shutdown complete" in server.log()

    db = Database(url)
    try:
        async with db.session() as s:
            runs = dict(
                (
                    await s.execute(select(WorkflowExecutionRun.id, WorkflowExecutionRun.status))
                ).all()
            )
            kept = set(await s.scalars(select(ChatMessageRecord.content)))
    finally:
        await db.dispose()
    assert runs[session["run_id"]] == "cancelled"
    assert runs[answer.json()["run_id"]] == "succeeded"
    assert {"stream please", "quick", "finished within the grace period"} <= kept
