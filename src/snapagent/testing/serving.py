"""`ThreadedServer`: an ASGI app served by uvicorn on its own thread and event loop, on
127.0.0.1 (a free port unless one is asked for) - the fake provider servers and the local MCP
server stand on it, so tests talk to them over real sockets.

    serving = ThreadedServer(app, name="fake").start()
    serving.port
    serving.stop()
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Literal, Self

import uvicorn

__all__ = ["ThreadedServer"]


class ThreadedServer:
    """See the module docstring. ``lifespan="on"`` runs the app's startup/shutdown."""

    def __init__(
        self,
        app: Any,
        *,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        lifespan: Literal["on", "off", "auto"] = "off",
    ) -> None:
        self.app = app
        self.name = name
        self.host = host
        self.port = port
        self.lifespan = lifespan
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan=self.lifespan,
            ws="none",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name=f"{self.name}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:  # startup only: uvicorn offers no awaitable for it
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.005)
        return self

    def stop(self, *, force: bool = True) -> None:
        """Stop serving; ``force=False`` gives open connections a second to finish."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._server.force_exit = force
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None
