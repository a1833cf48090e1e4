"""Attacks on accounts against a real `snapagent serve`: password guessing (one account from many
addresses, many accounts from one address), a registration flood and a password-hashing flood.

Each gets 429 problem+json with ``Retry-After`` once over its limit, exactly the allowed number
of guesses are checked even when they all arrive at once, spoofed ``X-Forwarded-For`` headers
from an untrusted peer change nothing, ``/health`` answers within 200 ms throughout, and the
hashing flood does not grow the server's memory beyond the hashes the gate lets run at once.
Client addresses are real: the attacks connect from different loopback addresses (127.0.0.x).

The attacks are sustained streams from a few connections at a time (``AT_ONCE``): what a burst
of hundreds of simultaneous connections does to a single event loop is a matter for the
connection limit in front of it (uvicorn's ``--limit-concurrency``, the load balancer), not for
the accounts code, and would make every endpoint slow on this shared 2-core machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from .attack import PASSWORD, AttackServer, HealthProbe, attack_server, register

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
MIB = 1024 * 1024
PER_ACCOUNT, PER_CLIENT, REGISTRATIONS = 5, 10, 5
AT_ONCE = 6
BALANCER = "127.0.0.250"  # trusted to say who the client is (SNAPAGENT_FORWARDED_ALLOW_IPS)
HASHING_FLOOD_AT_ONCE = AT_ONCE  # more than the gate admits (2 running + 2 waiting)
_addresses = (f"127.0.0.{i}" for i in itertools.count(2))


@contextlib.asynccontextmanager
async def connect_all(
    server: AttackServer, addresses: list[str]
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Clients whose connections come from ``addresses`` (all of 127.0.0.0/8 is local), made
    before an attack starts: building one loads a TLS context (~0.1 s of CPU on this loop),
    which would otherwise stall the health probe that shares the loop."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for address in addresses:
            transport = httpx.AsyncHTTPTransport(local_address=address, verify=False)
            http = httpx.AsyncClient(base_url=server.base, transport=transport, timeout=60)
            clients.append(await stack.enter_async_context(http))
        yield clients


async def barrage(
    requests: list[Callable[[], Awaitable[httpx.Response]]], at_once: int = AT_ONCE
) -> list[httpx.Response]:
    """Send every request, ``at_once`` in flight at any moment; answers in request order."""
    slots = asyncio.Semaphore(at_once)

    async def send(request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
        async with slots:
            return await request()

    return await asyncio.gather(*(send(request) for request in requests))


def from_one_address(
    http: httpx.AsyncClient, path: str, bodies: list[dict[str, str]]
) -> Awaitable[list[httpx.Response]]:
    """POST each body, claiming a fresh address in ``X-Forwarded-For`` every time: from an
    untrusted peer the header must change nothing."""
    return barrage(
        [
            partial(http.post, path, json=body, headers={"X-Forwarded-For": f"198.51.100.{i}"})
            for i, body in enumerate(bodies)
        ]
    )


@contextlib.asynccontextmanager
async def connect(server: AttackServer, address: str) -> AsyncIterator[httpx.AsyncClient]:
    async with connect_all(server, [address]) as (http,):
        yield http


def throttled(response: httpx.Response, detail: str) -> bool:
    if response.status_code != 429:
        return False
    body = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert detail in body["detail"], body
    assert int(response.headers["retry-after"]) >= 1
    return True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    with attack_server(
        tmp_path_factory.mktemp("account-attacks"),
        SNAPAGENT_LOGIN_FAILURES_PER_ACCOUNT=str(PER_ACCOUNT),
        SNAPAGENT_LOGIN_FAILURES_PER_CLIENT=str(PER_CLIENT),
        SNAPAGENT_REGISTRATIONS_PER_CLIENT=str(REGISTRATIONS),
        SNAPAGENT_FORWARDED_ALLOW_IPS=BALANCER,
    ) as running:
        yield running


async def test_guessing_one_password_from_many_addresses_at_once(server: AttackServer) -> None:
    register(server, "victim@example.com")

    def guess(http: httpx.AsyncClient, password: str) -> Awaitable[httpx.Response]:
        return http.post(LOGIN, json={"email": "victim@example.com", "password": password})

    addresses = [next(_addresses) for _ in range(31)]
    async with connect_all(server, addresses) as clients, HealthProbe(server.base) as probe:
        answers = await barrage(
            [partial(guess, http, f"guess number {i}") for i, http in enumerate(clients[:30])]
        )
        # Even the right password is refused now: it is not checked until the window ends.
        right = await guess(clients[30], PASSWORD)
    probe.assert_responsive()
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {401: PER_ACCOUNT, 429: 30 - PER_ACCOUNT}, statuses
    assert all(throttled(r, "for this account") for r in answers if r.status_code != 401)
    assert throttled(right, "for this account")


async def test_guessing_many_accounts_from_one_address(server: AttackServer) -> None:
    register(server, "bystander@example.com")
    attacker = next(_addresses)
    async with connect(server, attacker) as http, HealthProbe(server.base) as probe:
        bodies = [{"email": f"user{i}@example.com", "password": "password1"} for i in range(40)]
        answers = await from_one_address(http, LOGIN, bodies)
    probe.assert_responsive()
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {401: PER_CLIENT, 429: 40 - PER_CLIENT}, statuses
    assert all(throttled(r, "from this address") for r in answers if r.status_code != 401)
    async with connect(server, next(_addresses)) as someone_else:
        ok = await someone_else.post(
            LOGIN, json={"email": "bystander@example.com", "password": PASSWORD}
        )
    assert ok.status_code == 200, ok.text


async def test_registration_flood_from_one_address(server: AttackServer) -> None:
    attacker = next(_addresses)
    async with connect(server, attacker) as http, HealthProbe(server.base) as probe:
        bodies = [{"email": f"flood{i}@example.com", "password": PASSWORD} for i in range(30)]
        answers = await from_one_address(http, REGISTER, bodies)
    probe.assert_responsive()
    statuses = Counter(r.status_code for r in answers)
    assert statuses == {201: REGISTRATIONS, 429: 30 - REGISTRATIONS}, statuses
    assert all(throttled(r, "registrations") for r in answers if r.status_code != 201)
    async with connect(server, next(_addresses)) as someone_else:
        account = {"email": "latecomer@example.com", "password": PASSWORD}
        assert (await someone_else.post(REGISTER, json=account)).status_code == 201


async def test_behind_a_trusted_balancer_each_client_has_its_own_count(
    server: AttackServer,
) -> None:
    async with connect(server, BALANCER) as balancer:
        bodies = [{"email": f"lb{i}@example.com", "password": "password1"} for i in range(20)]
        # Twenty different clients behind the balancer: none of them is over its limit.
        answers = await from_one_address(balancer, LOGIN, bodies)
        assert Counter(r.status_code for r in answers) == {401: 20}
        # One client behind it guessing on: its own count runs out, as it would if direct.
        one_client = {"X-Forwarded-For": "192.0.2.77"}
        again = [await balancer.post(LOGIN, json=body, headers=one_client) for body in bodies[:12]]
    statuses = Counter(r.status_code for r in again)
    assert statuses == {401: PER_CLIENT, 429: 12 - PER_CLIENT}, statuses


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_hashing_flood_is_bounded_in_memory_and_answered_with_429(tmp_path: Path) -> None:
    """Real argon2 cost (64 MiB per hash), no login or registration limits: only the hashing
    gate stands between 80 simultaneous password checks and the server's memory."""
    concurrency = 2
    with attack_server(
        tmp_path,
        SNAPAGENT_ARGON2_MEMORY_KIB=str(64 * 1024),
        SNAPAGENT_ARGON2_TIME_COST="2",
        SNAPAGENT_ARGON2_PARALLELISM="1",
        SNAPAGENT_PASSWORD_HASH_CONCURRENCY=str(concurrency),
        SNAPAGENT_PASSWORD_HASH_QUEUE="2",
        SNAPAGENT_PASSWORD_HASH_WAIT_S="1",
        SNAPAGENT_LOGIN_FAILURES_PER_ACCOUNT="0",
        SNAPAGENT_LOGIN_FAILURES_PER_CLIENT="0",
        SNAPAGENT_REGISTRATIONS_PER_CLIENT="0",
    ) as server:
        pid = server.server.process.pid
        for i in range(3):  # warm up: the hashing threads and their arenas exist
            httpx.post(f"{server.base}{LOGIN}", json={"email": f"w{i}@x.org", "password": "p"})
        baseline = _status_kib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # restart the peak (VmHWM) from here

        async def flood() -> tuple[list[httpx.Response], HealthProbe]:
            addresses = [f"127.0.0.{2 + i}" for i in range(80)]
            async with connect_all(server, addresses) as clients, HealthProbe(server.base) as probe:
                requests = [partial(one, i, http) for i, http in enumerate(clients)]
                answers = await barrage(requests, at_once=HASHING_FLOOD_AT_ONCE)
            return answers, probe

        def one(i: int, http: httpx.AsyncClient) -> Awaitable[httpx.Response]:
            if i % 4 == 0:
                body = {"email": f"new{i}@example.com", "password": PASSWORD}
                return http.post(REGISTER, json=body)
            return http.post(LOGIN, json={"email": f"u{i}@x.org", "password": "pw"})

        answers, probe = asyncio.run(flood())
        peak = _status_kib(pid, "VmHWM")

    probe.assert_responsive()
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {201, 401, 429}, statuses
    assert statuses[429] >= 20, statuses
    assert statuses[201] + statuses[401] >= concurrency, statuses
    assert all(throttled(r, "too many passwords at once") for r in answers if r.status_code == 429)
    growth_mib = (peak - baseline) / 1024
    allowed_mib = concurrency * 64 + 48  # the running hashes, plus request buffers and slack
    assert growth_mib <= allowed_mib, f"peak RSS grew {growth_mib:.0f} MiB (allowed {allowed_mib})"
