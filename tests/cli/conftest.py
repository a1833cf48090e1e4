"""Fixtures for CLI tests: an embedded home, and accounts on the database the CLI would open.

``embedded_home``: the CLI's database is a fresh SQLite file under ``tmp_path / "data"`` and
no ``SNAPAGENT_CLI_OWNER`` from the caller's environment picks the acting account.
``accounts("ada@example.com", ...)`` creates those users (no password: the CLI needs none) on
the database ``DATABASE_URL`` / ``SNAPAGENT_DATA_DIR`` name when it is called;
``account_emails()`` lists every user there, so a test can prove the CLI created none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select

from snapagent.db.migrate import ensure_database_ready
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.settings import CoreSettings

T = TypeVar("T")


def _on_cli_database(action: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database.from_settings(CoreSettings())
        try:
            await ensure_database_ready(db)
            return await action(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def embedded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SNAPAGENT_CLI_OWNER", raising=False)
    monkeypatch.setenv("SNAPAGENT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.fixture
def accounts() -> Callable[..., list[str]]:
    """Create users with these emails; answers their ids."""

    def create(*emails: str) -> list[str]:
        async def add(db: Database) -> list[str]:
            async with db.session() as session:
                users = [User(email=email) for email in emails]
                session.add_all(users)
                await session.commit()
                return [user.id for user in users]

        return _on_cli_database(add)

    return create


@pytest.fixture
def account_emails() -> Callable[[], list[str]]:
    """Every user's email, sorted."""

    def emails() -> list[str]:
        async def read(db: Database) -> list[str]:
            async with db.session() as session:
                return list(await session.scalars(select(User.email).order_by(User.email)))

        return _on_cli_database(read)

    return emails
