"""The shared machinery of the fake provider servers: a real HTTP server on 127.0.0.1.

Each fake runs uvicorn + Starlette on its own thread and event loop, on a free port picked by
the OS, so the official SDKs talk to it over real sockets exactly as they would to the
provider. Subclasses add the routes of one wire protocol.

    with AnthropicFakeServer() as server:
        server.enqueue(ErrorReply(429, retry_after=1), Reply("Hello"))
        client = AsyncAnthropic(base_url=server.base_url, api_key="test")
        ...
        assert server.requests[-1].json()["model"] == "claude-x"
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from snapagent.testing.providers.script import (
    ErrorReply,
    HangReply,
    MalformedReply,
    RecordedRequest,
    Reply,
    ScriptedReply,
)
from snapagent.testing.serving import ThreadedServer

__all__ = ["Answer", "FakeProviderServer"]

# What a route renders: every scripted reply except a hang, which take() has already waited out.
Answer = Reply | ErrorReply | MalformedReply


class FakeProviderServer:
    """Base class: the script queue, the request log, start/stop, disconnect tracking."""

    def __init__(
        self,
        *,
        default_reply: ScriptedReply | None = None,
        responder: Callable[[RecordedRequest], ScriptedReply] | None = None,
    ) -> None:
        self.default_reply: ScriptedReply = default_reply or Reply()
        # Answers from the request itself when nothing is queued (a tool loop in a process
        # of its own, which nobody can enqueue to); default_reply otherwise.
        self.responder = responder
        self.requests: list[RecordedRequest] = []
        self.streams_started = 0
        self.streams_completed = 0
        self.streams_disconnected = 0
        self.disconnected = threading.Event()
        self.request_received = threading.Event()  # set by every request (tests wait on it)
        self._released = threading.Event()  # set on stop: hanging handlers return at once
        self._replies: deque[ScriptedReply] = deque()
        self._lock = threading.Lock()
        self._serving: ThreadedServer | None = None
        self._port = 0

    # --- script -------------------------------------------------------------------------

    def enqueue(self, *replies: ScriptedReply) -> None:
        with self._lock:
            self._replies.extend(replies)

    async def take(self, request: Request) -> tuple[Answer, RecordedRequest]:
        """Record ``request`` and return the reply it gets; waits out a HangReply here."""
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
        )
        with self._lock:
            self.requests.append(recorded)
            self.request_received.set()
            if self._replies:
                reply = self._replies.popleft()
            elif self.responder is not None:
                reply = self.responder(recorded)
            else:
                reply = self.default_reply
        if isinstance(reply, HangReply):
            # Waiting on a thread event (not a sleeping task) lets stop() end the hang without
            # a cancelled handler, which uvicorn would report as an application error.
            await asyncio.to_thread(self._released.wait, reply.seconds)
            return ErrorReply(503, "the fake server gave up waiting"), recorded
        if isinstance(reply, Reply | ErrorReply) and reply.delay:
            await asyncio.sleep(reply.delay)
        return reply, recorded

    async def tracked(self, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Wrap a streamed body so the test can see whether the client hung up mid-stream."""
        with self._lock:
            self.streams_started += 1
        finished = False
        try:
            async for frame in frames:
                yield frame
            finished = True
        finally:
            with self._lock:
                if finished:
                    self.streams_completed += 1
                else:
                    self.streams_disconnected += 1
            if not finished:
                self.disconnected.set()

    # --- protocol hooks -----------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        raise NotImplementedError

    @staticmethod
    def malformed_response(reply: MalformedReply) -> Response:
        return Response(reply.body, status_code=200, media_type=reply.content_type)

    @staticmethod
    def retry_headers(reply: ErrorReply) -> dict[str, str]:
        return {} if reply.retry_after is None else {"retry-after": f"{reply.retry_after:g}"}

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> Self:
        self._released.clear()
        serving = ThreadedServer(Starlette(routes=list(self.routes())), name=type(self).__name__)
        self._serving = serving.start()
        self._port = serving.port
        return self

    def stop(self) -> None:
        self._released.set()
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
