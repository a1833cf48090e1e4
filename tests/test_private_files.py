"""The data directory and what is in it are private to the server's user (0700 / 0600)."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from snapagent.db.session import Database
from snapagent.private_files import make_private_dir, secure_data_dir
from snapagent.server_settings import ServerSettings, resolve_jwt_secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> object:
    """What most machines have: without explicit modes everything would be world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def test_sqlite_database_and_its_wal_files_are_created_private(tmp_path: Path) -> None:
    data = tmp_path / "srv" / "data"
    db = Database(f"sqlite+aiosqlite:///{data / 'snapagent.db'}")
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (1)"))
        created = {p.name: mode(p) for p in data.iterdir()}
    finally:
        await db.dispose()
    assert mode(data) == 0o700
    assert mode(data.parent) == 0o700  # created by us as well
    assert {"snapagent.db", "snapagent.db-wal", "snapagent.db-shm"} <= created.keys()
    assert set(created.values()) == {0o600}, created


def test_generated_jwt_secret_and_its_directory_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    resolve_jwt_secret(ServerSettings(), data)
    assert mode(data) == 0o700
    assert mode(data / "jwt_secret") == 0o600


def test_an_existing_parent_is_left_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    make_private_dir(shared / "data")
    assert mode(shared) == 0o755
    assert mode(shared / "data") == 0o700


def test_looser_modes_are_tightened_at_start_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    (data / "uploads").mkdir(parents=True)
    files = [data / "snapagent.db", data / "snapagent.db-wal", data / "uploads" / "a.pdf"]
    for path in files:
        path.write_bytes(b"x")
        path.chmod(0o644)
    data.chmod(0o755)
    (data / "uploads").chmod(0o775)
    (data / "already-private").write_bytes(b"x")
    (data / "already-private").chmod(0o600)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"x")
    outside.chmod(0o644)
    (data / "link").symlink_to(outside)

    with caplog.at_level(logging.WARNING, logger="snapagent.private_files"):
        changed = secure_data_dir(data)

    assert set(changed) == {data, data / "uploads", *files}
    assert mode(data) == mode(data / "uploads") == 0o700
    assert all(mode(path) == 0o600 for path in files)
    assert mode(outside) == 0o644, "a symbolic link is not followed"
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == len(changed)
    assert any(f"{data / 'snapagent.db'} from 0o644 to 0o600" in line for line in logged)
    assert secure_data_dir(data) == []  # nothing left to do, nothing logged
    assert secure_data_dir(tmp_path / "missing") == []
    assert not (tmp_path / "missing").exists()
