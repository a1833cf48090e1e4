"""The request's session is made on first use only, and then behaves as `Database.session`."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from snapagent.api.lazy_session import LazySession, lazy_session
from snapagent.db.models.accounts import User
from snapagent.db.session import Database


class Counting:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.made = 0

    def __call__(self) -> object:
        self.made += 1
        return self.db.sessionmaker()


async def test_an_unused_session_is_never_made(migrated_db: Database) -> None:
    counting = Counting(migrated_db)
    lazy = LazySession(counting)  # type: ignore[arg-type]
    await lazy.close()
    await lazy.rollback()
    assert counting.made == 0
    assert not lazy.made


async def test_first_use_makes_one_session_that_reads_writes_and_rolls_back(
    migrated_db: Database,
) -> None:
    counting = Counting(migrated_db)
    lazy = LazySession(counting)  # type: ignore[arg-type]
    assert (await lazy.execute(text("SELECT 1"))).scalar() == 1
    lazy.add(User(email="lazy@example.com"))
    await lazy.commit()
    assert counting.made == 1
    assert lazy.made
    await lazy.close()

    async def failing_route() -> None:
        async with lazy_session(migrated_db) as session:
            session.add(User(email="never@example.com"))
            await session.flush()
            raise RuntimeError("the route failed")

    # An error inside the dependency's block rolls the made session back.
    with pytest.raises(RuntimeError):
        await failing_route()
    async with migrated_db.session() as check:
        emails = set(await check.scalars(select(User.email)))
    assert "lazy@example.com" in emails
    assert "never@example.com" not in emails
