"""Outbound requests that cannot reach the server's own network (SSRF guard).

One rule for every outbound request a user can steer (the ``http_request`` node, the agent's
HTTP and MCP tools): the destination must be a public address, checked on the resolved
address at connect time, on every redirect hop, unless the operator allows its network in
``SNAPAGENT_HTTP_ALLOWED_NETWORKS`` (comma-separated CIDRs)::

    from snapagent.netguard import guarded_client, check_url
    check_url("http://169.254.169.254/latest")          # BlockedDestinationError (config time)
    async with guarded_client() as client:               # enforcement (connect time)
        await client.get(url)

`check_url` is the early, static check (scheme, literal addresses) for validating a config;
the client's transport is the enforcement, since a host name may resolve anywhere later.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from snapagent.netguard.policy import NetworkPolicy
from snapagent.netguard.settings import HttpSettings, get_http_settings
from snapagent.netguard.transport import (
    BlockedDestinationError,
    GuardedBackend,
    GuardedTransport,
    Resolver,
    StaticResolver,
    SystemResolver,
    guarded_client,
    literal_address,
)

__all__ = [
    "BlockedDestinationError",
    "GuardedBackend",
    "GuardedTransport",
    "HttpSettings",
    "NetworkPolicy",
    "Resolver",
    "StaticResolver",
    "SystemResolver",
    "check_url",
    "get_http_settings",
    "guarded_client",
]


def check_url(url: str, policy: NetworkPolicy | None = None) -> None:
    """Refuse a URL that is not http(s) or names a blocked address literally (`ValueError`
    for a malformed URL, `BlockedDestinationError` for a refused destination)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"only http and https URLs are allowed, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    ip = literal_address(parts.hostname)
    if ip is None:
        return
    reason = (policy or get_http_settings().policy).blocked_reason(ip)
    if reason is not None:
        raise BlockedDestinationError(
            f"outbound request to {parts.hostname} refused: {reason} address "
            "(an operator may allow its network in SNAPAGENT_HTTP_ALLOWED_NETWORKS)"
        )
