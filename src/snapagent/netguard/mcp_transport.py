"""The guarded client for the MCP SDK, which speaks ``httpx2`` (httpx's successor) instead of
``httpx``: the same network policy, the same pinning of checked addresses, plus a cap on the
bytes of each response.

The official ``mcp`` SDK takes a ready client (``streamable_http_client(url, http_client=...)``);
`guarded_mcp_client` is that client. Its connections go through `GuardedBackend2`, which asks
the httpx `GuardedBackend` for the addresses a host may be reached at (refusing loopback,
private, link-local and metadata addresses unless ``SNAPAGENT_HTTP_ALLOWED_NETWORKS`` allows
them) and connects to exactly those, so every redirect hop and every reconnection is checked
again. A server cannot answer with more than ``max_response_bytes`` per response: the SDK reads
JSON answers whole, so the cap has to be in the transport.

    async with guarded_mcp_client(timeout=10, max_response_bytes=2**20) as http:
        async with Client(streamable_http_client(url, http_client=http)) as mcp:
            tools = await mcp.list_tools()
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpcore
import httpcore2
import httpx2

from snapagent.netguard.policy import NetworkPolicy
from snapagent.netguard.settings import get_http_settings
from snapagent.netguard.transport import (
    GuardedBackend,
    Resolver,
    first_reachable,
    ssl_context,
)

__all__ = [
    "GuardedBackend2",
    "GuardedTransport2",
    "ResponseTooLargeError",
    "guarded_mcp_client",
]


class ResponseTooLargeError(httpx2.ReadError):
    """A response body passed the byte cap (an `httpx2.ReadError`, so the SDK treats it like a
    broken connection: the request in flight fails, nothing else does)."""


class GuardedBackend2(httpcore2.AsyncNetworkBackend):
    """httpcore2's network backend, checking and pinning every destination address through
    the httpx `GuardedBackend` (one policy, one resolver, one set of rules)."""

    def __init__(self, policy: NetworkPolicy, resolver: Resolver | None = None) -> None:
        self.guard = GuardedBackend(policy, resolver)
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            addresses = await self.guard.addresses(host, port)
        except httpcore.ConnectError as exc:  # the resolver speaks httpcore
            raise httpcore2.ConnectError(str(exc)) from None
        inner = self._inner
        return await first_reachable(
            addresses,
            lambda ip: inner.connect_tcp(ip, port, timeout, local_address, socket_options),
            httpcore2.ConnectError,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        await self.guard.connect_unix_socket(path)
        raise AssertionError("unreachable: the guard refuses unix sockets")  # pragma: no cover

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _CappedStream(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in self._inner:
            seen += len(chunk)
            if seen > self._limit:
                raise ResponseTooLargeError(
                    f"the server's response is larger than {self._limit} bytes"
                )
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class GuardedTransport2(httpx2.AsyncHTTPTransport):
    """httpx2's transport on `GuardedBackend2` (no proxies, no unix sockets), capping every
    response body at ``max_response_bytes``."""

    def __init__(
        self,
        policy: NetworkPolicy | None = None,
        resolver: Resolver | None = None,
        *,
        max_response_bytes: int | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        context = verify or ssl_context()
        super().__init__(verify=context, trust_env=False)
        settings = get_http_settings()
        self.backend = GuardedBackend2(policy or settings.policy, resolver)
        self.max_response_bytes = max_response_bytes or settings.max_response_bytes
        # The pool httpx2 would build, on our backend (it has no parameter for a backend).
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=context,
            max_connections=20,
            max_keepalive_connections=5,
            network_backend=self.backend,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await super().handle_async_request(request)
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _CappedStream(response.stream, self.max_response_bytes)
        return response


def guarded_mcp_client(
    *,
    policy: NetworkPolicy | None = None,
    resolver: Resolver | None = None,
    timeout: float | httpx2.Timeout | None = None,
    headers: Mapping[str, str] | None = None,
    max_response_bytes: int | None = None,
) -> httpx2.AsyncClient:
    """An `httpx2.AsyncClient` for the MCP SDK whose every connection obeys ``policy``
    (default: the settings) and whose responses are capped at ``max_response_bytes``
    (default: ``SNAPAGENT_HTTP_MAX_RESPONSE_BYTES``). The SDK follows redirects itself, only
    within the endpoint's origin; each hop still connects through the guard."""
    settings = get_http_settings()
    return httpx2.AsyncClient(
        transport=GuardedTransport2(policy, resolver, max_response_bytes=max_response_bytes),
        timeout=settings.timeout_s if timeout is None else timeout,
        follow_redirects=False,
        trust_env=False,
        headers=dict(headers) if headers else None,
    )
