"""`Database`: URL handling, dialect flags, health, credentials never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapagent.db.session import Database
from snapagent.errors import InputValidationError
from snapagent.settings import CoreSettings


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:pw@db/app", "postgresql+asyncpg://u:***@db/app"),
        ("postgresql://u:pw@db/app", "postgresql+asyncpg://u:***@db/app"),
        ("postgresql+psycopg://u:pw@db/app", "postgresql+asyncpg://u:***@db/app"),
        (
            "postgresql://u:pw@db/app?sslmode=require",
            "postgresql+asyncpg://u:***@db/app?ssl=require",
        ),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
async def test_urls_are_normalised_to_async_drivers(given: str, expected: str) -> None:
    db = Database(given)
    try:
        assert db.safe_url == expected
        assert "pw" not in repr(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", ""])
def test_unsupported_urls_are_input_errors(url: str) -> None:
    with pytest.raises(InputValidationError) as info:
        Database(url)
    assert info.value.field == "DATABASE_URL"


async def test_embedded_default_lives_under_the_data_dir(tmp_path: Path) -> None:
    settings = CoreSettings(data_dir=tmp_path / "nested" / "data")
    db = Database.from_settings(settings)
    try:
        assert db.is_sqlite
        assert not db.is_postgres
        assert (await db.health()) == {"status": "ok", "dialect": "sqlite"}
        assert (tmp_path / "nested" / "data" / "snapagent.db").exists()
    finally:
        await db.dispose()


async def test_health_of_a_live_database(migrated_db: Database) -> None:
    report = await migrated_db.health()
    assert report["status"] == "ok"
    assert report["dialect"] == migrated_db.dialect
