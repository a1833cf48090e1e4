"""The guarded HTTP client: every connection goes to an address the policy allowed.

httpx opens connections through httpcore's network backend; `GuardedBackend` stands in for it.
For each new connection it resolves the host itself (IP literals in any spelling first:
``2130706433``, ``0x7f.1``, ``0177.0.0.1`` are all 127.0.0.1), refuses the connection if *any*
resolved address is blocked, and otherwise connects to the very address it checked - so a DNS
answer that changes between check and connect (rebinding) changes nothing. Redirects are new
requests and pass through it again, hop by hop; proxies from the environment are ignored.
TLS still verifies the certificate against the host name (httpcore sends it as SNI).

    async with guarded_client(timeout=10) as client:    # the agent's HTTP tools too
        response = await client.get("https://api.example.com/v1/items")

The MCP SDK speaks httpx2 rather than httpx: `snapagent.netguard.mcp_transport` puts the same
backend under it.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from ipaddress import ip_address
from typing import Any, Protocol, TypeVar

import httpcore
import httpx

from snapagent.errors import PermissionDeniedError
from snapagent.netguard.policy import IPAddress, NetworkPolicy
from snapagent.netguard.settings import get_http_settings

__all__ = [
    "BlockedDestinationError",
    "GuardedBackend",
    "GuardedTransport",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "first_reachable",
    "guarded_client",
    "literal_address",
    "load_tls_context",
    "ssl_context",
]


StreamT = TypeVar("StreamT")


class BlockedDestinationError(PermissionDeniedError):
    """An outbound request would reach an address the network policy refuses."""


class Resolver(Protocol):
    """Host name -> addresses (tests plug in their own)."""

    async def resolve(self, host: str, port: int) -> list[str]: ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo`` in a thread)."""

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc.strerror}") from None
        return list(dict.fromkeys(str(info[4][0]) for info in infos))


class StaticResolver:
    """Fixed answers: ``StaticResolver({"evil.test": ["127.0.0.1"]})``; unknown names fail."""

    def __init__(self, answers: Mapping[str, Sequence[str]]) -> None:
        self.answers = {name.lower(): list(ips) for name, ips in answers.items()}

    async def resolve(self, host: str, port: int) -> list[str]:
        try:
            return self.answers[host.lower().rstrip(".")]
        except KeyError:
            raise httpcore.ConnectError(f"cannot resolve {host!r}") from None


def literal_address(host: str) -> IPAddress | None:
    """The address ``host`` spells directly, in any form the C library would accept."""
    text = host.strip("[]").split("%")[0]
    try:
        return ip_address(text)
    except ValueError:
        pass
    try:  # inet_aton takes decimal, hex, octal and short forms: 2130706433, 0x7f.1, 127.1
        return ip_address(socket.inet_aton(text))
    except OSError:
        return None


async def first_reachable(
    addresses: Sequence[IPAddress],
    connect: Callable[[str], Awaitable[StreamT]],
    refused: type[Exception],
) -> StreamT:
    """A connection to the first of the checked ``addresses`` that accepts one (the last
    ``refused`` error when none does)."""
    last: Exception | None = None
    for ip in addresses:
        try:
            return await connect(str(ip))
        except refused as exc:
            last = exc
    assert last is not None
    raise last


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, checking and pinning every destination address."""

    def __init__(self, policy: NetworkPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver or SystemResolver()
        self._inner = httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses ``host`` may be reached at; `BlockedDestinationError` if any is refused."""
        literal = literal_address(host)
        found = (
            [literal]
            if literal
            else [ip_address(a) for a in await self.resolver.resolve(host, port)]
        )
        if not found:
            raise httpcore.ConnectError(f"{host!r} has no address")
        for ip in found:
            reason = self.policy.blocked_reason(ip)
            if reason is not None:
                shown = host if str(ip) == host else f"{host} ({ip})"
                raise BlockedDestinationError(
                    f"outbound request to {shown} refused: {reason} address "
                    "(an operator may allow its network in SNAPAGENT_HTTP_ALLOWED_NETWORKS)"
                )
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.addresses(host, port)
        inner = self._inner
        return await first_reachable(
            addresses,
            lambda ip: inner.connect_tcp(ip, port, timeout, local_address, socket_options),
            httpcore.ConnectError,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedDestinationError("outbound requests may not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=5)


@lru_cache(maxsize=1)
def ssl_context() -> ssl.SSLContext:
    """The TLS context of guarded clients (the CA bundle, loaded once)."""
    return httpx.create_ssl_context()  # made once: loading the CA bundle takes 10-300 ms


async def load_tls_context() -> None:
    """Load the CA bundle on a thread the first time, so no event loop waits for it."""
    if ssl_context.cache_info().currsize == 0:
        await asyncio.to_thread(ssl_context)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with `GuardedBackend` underneath (no proxies, no unix sockets)."""

    def __init__(
        self,
        policy: NetworkPolicy | None = None,
        resolver: Resolver | None = None,
        *,
        verify: ssl.SSLContext | None = None,
        limits: httpx.Limits = _LIMITS,
    ) -> None:
        context = verify or ssl_context()
        super().__init__(verify=context, trust_env=False, limits=limits)
        self.backend = GuardedBackend(policy or get_http_settings().policy, resolver)
        # Same pool httpx would build, on our backend (httpx 0.28 has no parameter for it).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )


def guarded_client(
    *,
    policy: NetworkPolicy | None = None,
    resolver: Resolver | None = None,
    timeout: float | httpx.Timeout | None = None,
    follow_redirects: bool = True,
    max_redirects: int | None = None,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | None = None,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` whose every connection obeys ``policy`` (default: the settings).
    For the MCP SDK (httpx2) use `snapagent.netguard.mcp_transport.guarded_mcp_client`."""
    settings = get_http_settings()
    return httpx.AsyncClient(
        transport=GuardedTransport(policy, resolver),
        timeout=settings.timeout_s if timeout is None else timeout,
        follow_redirects=follow_redirects,
        max_redirects=settings.max_redirects if max_redirects is None else max_redirects,
        trust_env=False,
        headers=headers,
        auth=auth,
    )
