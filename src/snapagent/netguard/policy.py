"""`NetworkPolicy`: which destination addresses outbound requests may reach.

Refused unless an operator allows the network: loopback, private (RFC 1918, unique-local),
link-local, shared/CGNAT (100.64.0.0/10), multicast, unspecified, reserved, documentation and
benchmark ranges, cloud metadata endpoints, and every IPv6 form that embeds one of those
IPv4 addresses (IPv4-mapped ``::ffff:127.0.0.1``, IPv4-compatible, NAT64 ``64:ff9b::/96``,
6to4, Teredo). In short: only globally routable unicast addresses pass by default.

>>> policy = NetworkPolicy()
>>> policy.blocked_reason(ip_address("127.0.0.1"))
'loopback'
>>> policy.blocked_reason(ip_address("::ffff:169.254.169.254"))
'cloud metadata'
>>> NetworkPolicy.from_setting("127.0.0.0/8").blocked_reason(ip_address("127.0.0.1")) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

__all__ = ["IPAddress", "NetworkPolicy", "ip_address"]

IPAddress = IPv4Address | IPv6Address

_METADATA = {
    ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
    ip_address("169.254.170.2"),  # ECS task metadata
    ip_address("fd00:ec2::254"),  # AWS over IPv6
    ip_address("100.100.100.200"),  # Alibaba Cloud
}
_CGNAT = ip_network("100.64.0.0/10")
_NAT64 = (ip_network("64:ff9b::/96"), ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if any(ip in net for net in _NAT64) or (int(ip) >> 32 == 0 and int(ip) > 1):
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


@dataclass(frozen=True)
class NetworkPolicy:
    """Allowed-by-exception networks on top of the public-only default."""

    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def from_setting(cls, text: str) -> NetworkPolicy:
        """From ``SNAPAGENT_HTTP_ALLOWED_NETWORKS`` (comma-separated CIDRs; `ValueError`
        naming a bad entry)."""
        return cls(tuple(parse_networks(text)))

    def allows(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def blocked_reason(self, ip: IPAddress) -> str | None:
        """Why ``ip`` is refused (``"loopback"``, ``"private"``...), or None if it may be used."""
        if self.allows(ip):
            return None
        if isinstance(ip, IPv6Address):
            if ip.scope_id:
                ip = IPv6Address(ip.exploded.split("%")[0])
            inner = _embedded_ipv4(ip)
            if inner is not None:
                return self.blocked_reason(inner)
        return _category(ip)


def _category(ip: IPAddress) -> str | None:
    if ip in _METADATA:
        return "cloud metadata"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, IPv4Address) and ip in _CGNAT:
        return "shared (CGNAT)"
    if ip.is_private:
        return "private"
    if ip.is_reserved or (isinstance(ip, IPv6Address) and ip.is_site_local):
        return "reserved"
    if not ip.is_global:
        return "non-public"
    return None


def parse_networks(text: str) -> Iterable[IPv4Network | IPv6Network]:
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            yield ip_network(item, strict=False)
        except ValueError:
            raise ValueError(f"{item!r} is not a network in CIDR notation (10.0.0.0/8)") from None
