"""A refused or black-holed database: start-up checks refuse, readiness answers 503 quickly.

Both probes bound their wait (a silent database would otherwise hold them for the driver's own
minute-long timeout); the limits are lowered here so the tests stay short.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from snapagent.api.app import create_app
from snapagent.db.session import Database
from snapagent.server_settings import ServerSettings
from snapagent.settings import CoreSettings
from snapagent.startup_checks import StartupCheckError, ensure_startable

SECRET = "Zq8vK1mW3pR7tY2uE9sA4dF6gH0jL5xC"


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.fixture(params=["refused", "silent"])
def dead_url(request: pytest.FixtureRequest, silent_port: int) -> str:
    if request.param == "silent":
        port = silent_port
    else:
        with socket.socket() as sock:  # bound then closed: nothing listens there
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
    return f"postgresql+asyncpg://app:hunter2@127.0.0.1:{port}/snap"


@pytest.fixture(autouse=True)
def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("snapagent.startup_checks.DATABASE_CHECK_TIMEOUT_S", 0.5)
    monkeypatch.setattr("snapagent.api.routes.readiness.READINESS_TIMEOUT_S", 0.5)


async def test_start_up_is_refused_naming_database_url(dead_url: str) -> None:
    with pytest.raises(StartupCheckError) as caught:
        await ensure_startable(
            ServerSettings(jwt_secret=SECRET), CoreSettings(database_url=dead_url)
        )
    assert [p.setting for p in caught.value.problems] == ["DATABASE_URL"]
    assert "hunter2" not in caught.value.message
    assert "127.0.0.1" in caught.value.message


async def test_readiness_answers_503_problem(dead_url: str, tmp_path: Path) -> None:
    # The lifespan would refuse to start on this database; the route must answer regardless.
    database = Database(dead_url)
    app = create_app(
        ServerSettings(jwt_secret=SECRET),
        database,
        core_settings=CoreSettings(data_dir=tmp_path / "data"),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/health/ready")
    finally:
        await database.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "urn:snapagent:problem:not-ready"
    assert body["checks"]["database"]["status"] == "unavailable"
    assert "hunter2" not in response.text
