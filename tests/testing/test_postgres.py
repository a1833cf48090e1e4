"""`snapagent.testing.postgres`: a real server of our own, restartable, cleaned up; never
imported by product code."""

from __future__ import annotations

import ast
from pathlib import Path

import asyncpg
import pytest

from snapagent.testing.postgres import PostgresServer, PostgresServerError

SRC = Path(__file__).resolve().parents[2] / "src" / "snapagent"


async def _select_one(url: str) -> int:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_server_starts_restarts_on_its_port_and_removes_its_data() -> None:
    server = PostgresServer()
    with server:
        url = server.create_database("t_lifecycle")
        assert url.startswith(f"postgresql+asyncpg://postgres@127.0.0.1:{server.port}/")
        assert await _select_one(url) == 1
        port, data_dir = server.port, server.data_dir
        assert data_dir is not None
        assert data_dir.is_dir()

        server.stop()
        with pytest.raises(ConnectionRefusedError):  # the port is closed: it really stopped
            await _select_one(url)
        server.start()
        assert server.port == port
        assert await _select_one(url) == 1  # same data: the database is still there

        with pytest.raises(PostgresServerError, match="already exists"):
            server.create_database("t_lifecycle")
    assert not data_dir.exists()
    server.close()  # a second close is harmless


def test_database_names_are_plain_identifiers() -> None:
    server = PostgresServer.external("postgresql+asyncpg://postgres@127.0.0.1:1/postgres")
    for bad in ("Upper", "x; DROP DATABASE postgres", "", "1st", "a" * 64):
        with pytest.raises(PostgresServerError, match="database name"):
            server.create_database(bad)


def test_external_server_is_never_started_or_stopped() -> None:
    server = PostgresServer.external("postgresql+asyncpg://admin:pw@db.example:6543/postgres")
    assert server.url("app") == "postgresql+asyncpg://admin:pw@db.example:6543/app"
    with pytest.raises(PostgresServerError, match="external"):
        server.start()
    with pytest.raises(PostgresServerError, match="external"):
        server.stop()
    with server:  # entering and leaving touch nothing
        pass


def test_product_code_never_imports_the_test_server() -> None:
    importers = []
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "testing"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            if any(name.startswith("snapagent.testing.postgres") for name in names):
                importers.append(str(path))
    assert importers == []
