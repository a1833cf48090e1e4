"""Any app built by ``create_app`` (not only `snapagent serve`): its lifespan shutdown stops a
streamed chat still open and waits until the run is recorded ``cancelled``.

The stream is driven as raw ASGI so it is still open when the lifespan ends (httpx's ASGI
transport would wait for the whole body); the model never answers, so only the shutdown can
end the stream.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from starlette.types import Message, Scope

from snapagent.api.app import ShutdownSettings, create_app
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.session import Database
from snapagent.server_settings import ServerSettings
from snapagent.settings import CoreSettings
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels

CHAT = "/api/v1/chat"
PASSWORD = "correct horse battery"


async def _user_and_published_bot(http: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    account = {"email": "shutdown@example.com", "password": PASSWORD}
    assert (await http.post("/api/v1/auth/register", json=account)).status_code == 201
    token = (await http.post("/api/v1/auth/login", json=account)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    bot_id: str = (await http.post("/api/v1/bots", json={"name": "b"}, headers=headers)).json()[
        "id"
    ]
    draft = (await http.get(f"/api/v1/bots/{bot_id}/workflow-versions", headers=headers)).json()
    published = await http.post(
        f"/api/v1/bots/{bot_id}/workflow-versions/{draft['data'][0]['id']}/publish",
        headers=headers,
    )
    assert published.status_code == 200, published.text
    return headers, bot_id


class _StreamingCall:
    """One POST to the app as an ASGI server would make it, reading the body as it comes."""

    def __init__(self, app: FastAPI, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.app, self.payload = app, json.dumps(body).encode()
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        self.status = 0
        self.body = b""
        self.llm_started = asyncio.Event()

    async def __call__(self) -> None:
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": CHAT,
            "raw_path": CHAT.encode(),
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "headers": [
                (b"host", b"testserver"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(self.payload)).encode()),
                *self.headers,
            ],
        }
        sent = False
        client_gone = asyncio.Event()  # the client never hangs up in this test

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": self.payload, "more_body": False}
            await client_gone.wait()
            return {"type": "http.disconnect"}  # pragma: no cover

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"")
                if b'"node_id":"llm"' in self.body:
                    self.llm_started.set()

        await self.app(scope, receive, send)

    def events(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for frame in self.body.decode().split("\n\n"):
            fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
            if "data" in fields:
                out.append((fields.get("event", "message"), json.loads(fields["data"])))
        return out


async def test_create_app_lifespan_records_an_open_stream_cancelled(
    migrated_db: Database, tmp_path: Path
) -> None:
    settings = ServerSettings(
        jwt_secret="test-secret-" + "x" * 32,
        argon2_time_cost=1,
        argon2_memory_kib=64,
        argon2_parallelism=1,
    )
    model = ScriptedChatModel()
    model.enqueue("never sent", wait_for=asyncio.Event())  # only a shutdown ends this turn
    app = create_app(
        settings,
        migrated_db,
        core_settings=CoreSettings(data_dir=tmp_path / "data"),
        chat_models=ScriptedChatModels(model),
        retriever=InMemoryRetriever(),
        shutdown=ShutdownSettings(record_timeout_s=20),
    )
    transport = httpx.ASGITransport(app=app)
    async with asyncio.timeout(60):
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
        ):
            headers, bot_id = await _user_and_published_bot(http)
            call = _StreamingCall(
                app, headers, {"bot_id": bot_id, "message": "stream?", "stream": True}
            )
            streaming = asyncio.create_task(call())
            await call.llm_started.wait()  # the run is waiting on the model now
            assert not streaming.done()
        # The lifespan has shut down: it stopped the turn and waited for its record.
        async with migrated_db.session() as session:
            runs = list(await session.scalars(select(WorkflowExecutionRun)))
            roles = list(await session.scalars(select(ChatMessageRecord.role)))
        await streaming  # the stream ends by itself once its turn is stopped
    assert [(run.bot_id, run.status, run.mode) for run in runs] == [
        (bot_id, "cancelled", "streaming")
    ]
    assert roles == ["user"]  # the question kept, no answer stored
    assert call.status == 200
    name, data = call.events()[-1]
    assert (name, data["status"]) == ("error", 503)
