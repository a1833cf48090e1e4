"""The model provider failing under a real `snapagent serve`: errors and hangs.

The provider is the fake OpenAI server on loopback. An upstream error answers 502 and a hang
504 (the provider timeout, 1 s here), as problem+json for a JSON chat and as the stream's last
``error`` event for a streamed one; every such run is recorded ``failed`` with its error, and
every user message is kept (without an answer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from replicas.live import live
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.session import Database
from snapagent.testing.providers.openai_server import OpenAIFakeServer
from snapagent.testing.providers.script import ErrorReply, HangReply, Reply


@pytest.fixture
def fake_openai() -> Iterator[OpenAIFakeServer]:
    with OpenAIFakeServer(default_reply=Reply("fine")) as server:
        yield server


async def test_provider_errors_and_hangs_are_502_and_504_runs_failed_messages_kept(
    tmp_path: Path, fake_openai: OpenAIFakeServer
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'snapagent.db'}"
    env = live.server_env(
        url,
        tmp_path / "data",
        OPENAI_BASE_URL=fake_openai.base_url,
        OPENAI_API_KEY="test-key",
        SNAPAGENT_LLM_MAX_ATTEMPTS="1",
        SNAPAGENT_LLM_TIMEOUT_SECONDS="1",
    )
    server = live.start_server(env, tmp_path)
    try:
        await asyncio.to_thread(live.wait_ready, server)
        headers, bot_id = await live.seed(server.base, live.model_graph("openai:gpt-test"))
        fake_openai.enqueue(
            ErrorReply(500, "upstream exploded"),
            HangReply(30),
            ErrorReply(500, "upstream exploded"),
            HangReply(30),
        )
        outcomes = {}
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            for name, call in (
                ("error", live.chat),
                ("hang", live.chat),
                ("stream error", live.stream_chat),
                ("stream hang", live.stream_chat),
            ):
                payload = {"bot_id": bot_id, "message": f"please {name}", "session_id": "faulty"}
                outcomes[name] = await call(http, headers, payload)
            after = await live.chat(http, headers, {"bot_id": bot_id, "message": "and now?"})
    finally:
        await asyncio.to_thread(live.stop_all, [server])

    for name, status in (("error", 502), ("hang", 504)):
        assert outcomes[name].status == status, outcomes[name].body
        assert outcomes[name].content_type.startswith("application/problem+json")
        assert outcomes[name].body["status"] == status
    assert outcomes["stream error"].status == 502, outcomes["stream error"].body
    assert outcomes["stream hang"].status == 504, outcomes["stream hang"].body
    assert after.status == 200  # the provider answers again: so does the service

    db = Database(url)
    try:
        async with db.session() as session:
            runs = (
                await session.execute(
                    select(WorkflowExecutionRun.status, WorkflowExecutionRun.error)
                    .where(WorkflowExecutionRun.session_id == "faulty")
                )
            ).all()  # fmt: skip
            kept = list(
                await session.scalars(
                    select(ChatMessageRecord.role).order_by(ChatMessageRecord.created_at)
                )
            )
    finally:
        await db.dispose()
    assert [status for status, _ in runs] == ["failed"] * 4
    assert all(error for _, error in runs)
    # The four questions kept without answers, then the last turn whole.
    assert kept == ["user"] * 4 + ["user", "assistant"]
