"""`LocalMcpServer`: a real MCP server (the official ``mcp`` SDK's `MCPServer`) speaking
Streamable HTTP on 127.0.0.1, for tests, benchmarks and the runnable examples.

    with LocalMcpServer() as server:           # the demo tools below, on a free port
        server.url                              # http://127.0.0.1:<port>/mcp
        server.calls                            # [(tool name, arguments), ...] it answered
        server.requests                         # [(method, path), ...] of every HTTP request
        server.stop()                           # the server goes away (the URL stops answering)

    with LocalMcpServer(my_mcp_server, json_response=True) as server: ...

The demo tools (`demo_server`): ``add(a, b)``, ``lookup_order(order_id)``, ``echo(text)``,
``fail(message)`` (raises: an error result), ``slow(seconds)`` (sleeps, then answers) and
``big(size)`` (a text of ``size`` characters).

Also a command, for the examples and benchmarks (prints the URL, serves until stdin closes or
Ctrl-C): ``python -m snapagent.testing.mcp_server --port 9100 [--json]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from snapagent.testing.serving import ThreadedServer

__all__ = ["ORDERS", "LocalMcpServer", "demo_server", "quiet_root_logger"]

ORDERS: dict[int, dict[str, Any]] = {
    12345: {"order_id": 12345, "status": "shipped", "carrier": "DHL", "eta": "2026-11-20"},
    777: {"order_id": 777, "status": "processing", "carrier": None, "eta": None},
}
"""The demo orders ``lookup_order`` knows."""


@contextlib.contextmanager
def quiet_root_logger() -> Iterator[None]:
    """`MCPServer()` calls ``logging.basicConfig`` (a rich handler on the root logger) when the
    root logger has no handler; a placeholder handler makes that a no-op for our processes."""
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        yield
    finally:
        root.removeHandler(placeholder)


def demo_server(calls: list[tuple[str, dict[str, Any]]] | None = None) -> MCPServer:
    """An `MCPServer` with the demo tools; each call is appended to ``calls``."""
    log = calls if calls is not None else []
    with quiet_root_logger():
        server: MCPServer = MCPServer("snapagent-demo", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        log.append(("add", {"a": a, "b": b}))
        return a + b

    @server.tool()
    def lookup_order(order_id: int) -> dict[str, Any]:
        """Status, carrier and expected delivery date of an order, by its order number."""
        log.append(("lookup_order", {"order_id": order_id}))
        if order_id not in ORDERS:
            raise ToolError(f"no order {order_id}")  # the message reaches the client
        return ORDERS[order_id]

    @server.tool()
    def echo(text: str) -> str:
        """Repeat the text."""
        log.append(("echo", {"text": text}))
        return text

    @server.tool()
    def fail(message: str) -> str:
        """Always fails with the message."""
        log.append(("fail", {"message": message}))
        raise ToolError(message)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Wait, then answer."""
        log.append(("slow", {"seconds": seconds}))
        await asyncio.sleep(seconds)
        return f"waited {seconds} s"

    @server.tool()
    def big(size: int) -> str:
        """A text of `size` characters."""
        log.append(("big", {"size": size}))
        return "x" * size

    return server


class LocalMcpServer:
    """Serves an `MCPServer` over Streamable HTTP with uvicorn on its own thread and loop."""

    def __init__(
        self,
        server: MCPServer | None = None,
        *,
        json_response: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/mcp",
    ) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.requests: list[tuple[str, str]] = []
        self.server = server or demo_server(self.calls)
        self.json_response = json_response
        self.host = host
        self.path = path
        self._requested_port = port
        self.port = 0
        self._serving: ThreadedServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.path}"

    def start(self) -> Self:
        app = self.server.streamable_http_app(
            streamable_http_path=self.path, json_response=self.json_response, host=self.host
        )
        serving = ThreadedServer(
            self._logged(app),
            name="LocalMcpServer",
            host=self.host,
            port=self._requested_port,
            lifespan="on",
        )
        self._serving = serving.start()
        self.port = serving.port
        return self

    def _logged(self, app: Any) -> Any:
        async def logged(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.requests.append((scope["method"], scope["path"]))
            await app(scope, receive, send)

        return logged

    def stop(self) -> None:
        """Stop serving; the port stops answering (a server that went away)."""
        if self._serving is not None:
            self._serving.stop(force=False)  # graceful: open streams get a second to end
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


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m snapagent.testing.mcp_server")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--json", action="store_true", help="answer in JSON, not SSE streams")
    args = parser.parse_args(argv)
    with LocalMcpServer(json_response=args.json, port=args.port) as server:
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            sys.stdin.read()  # until the parent closes our stdin, or Ctrl-D / Ctrl-C
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
