"""Big JSON request bodies are decoded in a thread, never on the event loop.

Every router is built with ``route_class=OffLoopJsonRoute`` (FastAPI's documented extension
point, "custom Request and APIRoute class"; `tests/api/test_json_route.py` checks that no route
is left out). A body up to `OFF_LOOP_BYTES` is decoded in place - a thread hand-off would cost
more than it saves - and a bigger one (up to the JSON body limit, 1 MiB by default: a workflow
graph, say) in a worker thread, so decoding it cannot hold up other requests.

    router = APIRouter(prefix="/api/v1/things", route_class=OffLoopJsonRoute)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["OFF_LOOP_BYTES", "OffLoopJsonRequest", "OffLoopJsonRoute"]

OFF_LOOP_BYTES = 64 * 1024
"""Bodies larger than this are decoded in a thread (about 1 ms of decoding on the loop)."""

_UNSET: Any = object()


def _decode(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        # Reported like any other decoding error: where it broke, and why (FastAPI would
        # answer a bare 400 "There was an error parsing the body").
        text = body.decode("utf-8", errors="replace")
        position = len(body[: exc.start].decode("utf-8", errors="replace"))
        raise json.JSONDecodeError("the body is not UTF-8 text", text, position) from None


class OffLoopJsonRequest(Request):
    """A request whose ``json()`` decodes a big body in a worker thread."""

    _decoded: Any = _UNSET

    async def json(self) -> Any:
        body = await self.body()
        if self._decoded is not _UNSET:
            return self._decoded
        if len(body) <= OFF_LOOP_BYTES:
            self._decoded = _decode(body)
        else:
            self._decoded = await asyncio.to_thread(_decode, body)
        return self._decoded


class OffLoopJsonRoute(APIRoute):
    """An `APIRoute` whose handler sees an `OffLoopJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_off_loop(request: Request) -> Response:
            return await handle(OffLoopJsonRequest(request.scope, request.receive))

        return handle_off_loop
