"""`LocalHttpServer`: a small real HTTP server on 127.0.0.1 for tests of outbound requests.

    with LocalHttpServer() as server:
        server.url("/echo?x=1")          # http://127.0.0.1:<port>/echo?x=1
        server.requests                  # every request it received: (method, path, headers, body)

Routes: ``/echo`` (JSON of the request), ``/redirect?to=URL`` (302), ``/status/<code>``,
``/big?size=N`` (N bytes, streamed in chunks), ``/slow?s=S`` (waits, then answers), ``/text``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["LocalHttpServer", "ReceivedRequest"]


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = field(repr=False)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.owner.requests.append(
            ReceivedRequest(self.command, self.path, dict(self.headers.items()), body)
        )
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/echo":
            payload = {
                "method": self.command,
                "path": parts.path,
                "query": query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            self._send(200, json.dumps(payload).encode(), "application/json")
        elif parts.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", query.get("to", "/echo"))
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif parts.path.startswith("/status/"):
            self._send(int(parts.path.rsplit("/", 1)[1]), b'{"error": true}', "application/json")
        elif parts.path == "/big":
            size = int(query.get("size", "1000000"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                while size > 0:
                    self.wfile.write(chunk[: min(size, len(chunk))])
                    size -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif parts.path == "/slow":
            time.sleep(float(query.get("s", "5")))
            self._send(200, b"late", "text/plain")
        else:
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Test", "yes")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalHttpServer


class LocalHttpServer:
    """A threaded HTTP server on 127.0.0.1 (a free port), started and stopped by ``with``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.requests: list[ReceivedRequest] = []
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> LocalHttpServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
