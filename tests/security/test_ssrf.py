"""The SSRF guard: no outbound request reaches loopback, private, link-local or metadata
addresses - by literal, by any spelling of one, by a host name that resolves there, or by a
redirect - unless the operator's allow-list names the network. Real connections only go to a
local test server (which must see nothing when a request is refused)."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_address

import httpx
import pytest

from snapagent.netguard import (
    BlockedDestinationError,
    GuardedBackend,
    HttpSettings,
    NetworkPolicy,
    StaticResolver,
    check_url,
    guarded_client,
)
from snapagent.netguard.transport import literal_address
from snapagent.testing.http_server import LocalHttpServer

PUBLIC = NetworkPolicy()
LOOPBACK_ALLOWED = NetworkPolicy.from_setting("127.0.0.1/32")


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as server:
        yield server


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.170.2", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),
        ("192.0.2.10", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::7f00:1", "loopback"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ("2002:7f00:1::", "loopback"),
        ("2002:a9fe:a9fe::", "cloud metadata"),
    ],
)
def test_blocked_addresses_name_their_class(address: str, reason: str) -> None:
    assert PUBLIC.blocked_reason(ip_address(address)) == reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert PUBLIC.blocked_reason(ip_address(address)) is None


@pytest.mark.parametrize(
    "spelling", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.1", "017700000001"]
)
def test_every_spelling_of_an_address_is_read_as_that_address(spelling: str) -> None:
    assert literal_address(spelling) == ip_address("127.0.0.1")


def test_the_allow_list_lets_exactly_its_networks_through() -> None:
    policy = NetworkPolicy.from_setting(" 10.20.0.0/16 , 127.0.0.1/32,fd00::/8")
    assert policy.blocked_reason(ip_address("10.20.3.4")) is None
    assert policy.blocked_reason(ip_address("127.0.0.1")) is None
    assert policy.blocked_reason(ip_address("::ffff:127.0.0.1")) is None  # the same address
    assert policy.blocked_reason(ip_address("127.0.0.2")) == "loopback"
    assert policy.blocked_reason(ip_address("10.21.0.1")) == "private"
    assert policy.blocked_reason(ip_address("169.254.169.254")) == "cloud metadata"


def test_a_bad_allow_list_names_the_bad_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_HTTP_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-net")
    with pytest.raises(ValueError, match="'not-a-net' is not a network"):
        HttpSettings()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/echo",
        "http://2130706433:{port}/echo",
        "http://0x7f000001:{port}/echo",
        "http://127.1:{port}/echo",
        "http://[::1]:{port}/echo",
        "http://[::ffff:127.0.0.1]:{port}/echo",
        "http://[::ffff:7f00:1]:{port}/echo",
        "http://localhost:{port}/echo",
        "http://LocalHost:{port}/echo",
    ],
)
async def test_loopback_in_any_form_is_refused_before_connecting(
    server: LocalHttpServer, url: str
) -> None:
    async with guarded_client(policy=PUBLIC) as client:
        with pytest.raises(BlockedDestinationError, match="loopback"):
            await client.get(url.format(port=server.port))
    assert server.requests == []


async def test_octal_dotted_addresses_are_not_even_parsed(server: LocalHttpServer) -> None:
    async with guarded_client(policy=PUBLIC) as client:
        with pytest.raises(httpx.InvalidURL):
            await client.get(f"http://0177.0.0.1:{server.port}/echo")
    assert server.requests == []


async def test_a_host_name_resolving_to_loopback_is_refused(server: LocalHttpServer) -> None:
    resolver = StaticResolver(
        {
            "127.0.0.1.nip.io": ["127.0.0.1"],
            "rebind.test": ["93.184.216.34", "127.0.0.1"],  # one bad answer is enough
            "meta.test": ["169.254.169.254"],
            "v6.test": ["::1"],
        }
    )
    async with guarded_client(policy=PUBLIC, resolver=resolver) as client:
        for host in ("127.0.0.1.nip.io", "rebind.test", "meta.test", "v6.test"):
            with pytest.raises(BlockedDestinationError, match="refused"):
                await client.get(f"http://{host}:{server.port}/echo")
    assert server.requests == []


async def test_the_connection_goes_to_the_checked_address_with_the_host_name_kept(
    server: LocalHttpServer,
) -> None:
    resolver = StaticResolver({"api.test": ["127.0.0.1"]})
    async with guarded_client(policy=LOOPBACK_ALLOWED, resolver=resolver) as client:
        response = await client.get(f"http://api.test:{server.port}/echo")
    assert response.status_code == 200
    assert response.json()["headers"]["host"] == f"api.test:{server.port}"


async def test_the_allow_list_lets_a_local_server_through(server: LocalHttpServer) -> None:
    async with guarded_client(policy=LOOPBACK_ALLOWED) as client:
        response = await client.get(server.url("/echo?x=1"))
    assert response.json()["query"] == {"x": "1"}


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.2:{port}/echo",
        "http://[::1]:{port}/echo",
        "http://0x7f000002:{port}/echo",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest",
        "http://10.0.0.1/",
    ],
)
async def test_every_redirect_hop_is_checked(server: LocalHttpServer, target: str) -> None:
    start = server.url("/redirect?to=" + target.format(port=server.port))
    async with guarded_client(policy=LOOPBACK_ALLOWED) as client:
        with pytest.raises(BlockedDestinationError, match="refused"):
            await client.get(start)
    assert [r.path.split("?")[0] for r in server.requests] == ["/redirect"]


async def test_allowed_redirects_are_followed(server: LocalHttpServer) -> None:
    start = server.url("/redirect?to=" + server.url("/echo"))
    async with guarded_client(policy=LOOPBACK_ALLOWED) as client:
        response = await client.get(start)
    assert response.status_code == 200
    assert response.json()["path"] == "/echo"


async def test_environment_proxies_are_ignored(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url("/"))
    monkeypatch.setenv("ALL_PROXY", server.url("/"))
    async with guarded_client(policy=PUBLIC) as client:
        with pytest.raises(BlockedDestinationError):
            await client.get(f"http://localhost:{server.port}/")
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("file:///etc/passwd", ValueError),
        ("gopher://127.0.0.1/", ValueError),
        ("http:///nohost", ValueError),
        ("http://169.254.169.254/", BlockedDestinationError),
        ("https://[::ffff:a9fe:a9fe]/", BlockedDestinationError),
        ("http://017700000001/", BlockedDestinationError),
    ],
)
def test_check_url_refuses_early_what_it_can_see(url: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_url(url, PUBLIC)


def test_check_url_accepts_public_urls() -> None:
    check_url("https://api.example.com/v1", PUBLIC)
    check_url("http://8.8.8.8/", PUBLIC)


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(BlockedDestinationError):
        await GuardedBackend(PUBLIC).connect_unix_socket("/var/run/docker.sock")
