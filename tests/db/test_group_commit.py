"""`GroupCommit`: concurrent writers share transactions; a bad member fails alone."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, utcnow
from snapagent.db.group_commit import GroupCommit, Writes
from snapagent.db.models.accounts import User
from snapagent.db.models.api_keys import ApiKey
from snapagent.db.session import Database


def _user(email: str) -> Writes:
    row = {"id": new_id(), "email": email, "created_at": utcnow(), "token_version": 0}
    return Writes().insert(User, row)


async def _emails(db: Database) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(User.email).order_by(User.email)))


async def test_concurrent_writes_share_transactions_and_all_commit(migrated_db: Database) -> None:
    group = GroupCommit(migrated_db, max_batch=16)
    emails = [f"u{i:02}@example.com" for i in range(40)]
    await asyncio.gather(*(group.write(_user(e)) for e in emails))
    assert await _emails(migrated_db) == emails
    assert group.members == 40
    assert group.batches <= 4  # 40 queued at once, 16 at most per transaction: 3 batches


async def test_a_failing_member_gets_its_own_error_and_the_others_commit(
    migrated_db: Database,
) -> None:
    await GroupCommit(migrated_db).write(_user("taken@example.com"))
    group = GroupCommit(migrated_db)
    outcomes = await asyncio.gather(
        group.write(_user("a@example.com")),
        group.write(_user("taken@example.com")),  # the unique email: this one fails
        group.write(_user("b@example.com")),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    assert await _emails(migrated_db) == ["a@example.com", "b@example.com", "taken@example.com"]


async def test_statements_run_after_the_batch_inserts(migrated_db: Database) -> None:
    group = GroupCommit(migrated_db)
    writes = _user("c@example.com")
    writes.execute(
        update(User)
        .where(User.email == "c@example.com")
        .values(token_version=User.token_version + 5)
    )
    await group.write(writes)
    async with migrated_db.session() as session:
        assert await session.scalar(select(func.max(User.token_version))) == 5


async def test_a_cancelled_caller_still_has_its_rows_committed(migrated_db: Database) -> None:
    group = GroupCommit(migrated_db)
    writer = asyncio.create_task(group.write(_user("gone@example.com")))
    await asyncio.sleep(0)
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    for _ in range(200):  # the writer task finishes the transaction on its own
        if await _emails(migrated_db) == ["gone@example.com"]:
            break
        await asyncio.sleep(0.01)
    assert await _emails(migrated_db) == ["gone@example.com"]


async def test_parent_rows_go_in_before_their_children_whatever_the_order_given(
    migrated_db: Database,
) -> None:
    user_id = new_id()
    key = {
        "id": new_id(), "user_id": user_id, "name": "ci", "prefix": "sa_0123456789ab",
        "key_hash": "0" * 64, "created_at": utcnow(), "last_used_at": None, "revoked_at": None,
    }  # fmt: skip
    child_first = Writes().insert(ApiKey, key)
    child_first.merge(_user("parent@example.com"))
    child_first.rows[-1][1]["id"] = user_id
    await GroupCommit(migrated_db).write(child_first)
    async with migrated_db.session() as session:
        assert await session.scalar(select(ApiKey.user_id)) == user_id


async def test_on_postgresql_a_batch_commits_while_another_is_still_open(
    migrated_db: Database,
) -> None:
    """Two transactions in flight (PostgreSQL): a batch need not wait for the one before it to
    commit. SQLite has one writer: the second waits for the first."""
    group = GroupCommit(migrated_db, in_flight=2)
    opened, release = asyncio.Event(), asyncio.Event()

    async def hold_open(_session: AsyncSession) -> None:
        opened.set()
        await release.wait()

    first = asyncio.create_task(group.write(_user("slow@example.com").then(hold_open)))
    await asyncio.wait_for(opened.wait(), timeout=10)
    second = asyncio.create_task(group.write(_user("quick@example.com")))
    if migrated_db.is_postgres:
        await asyncio.wait_for(second, timeout=10)  # committed while the first is open
        assert not first.done()
    else:
        await asyncio.sleep(0.2)
        assert not second.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert await _emails(migrated_db) == ["quick@example.com", "slow@example.com"]
