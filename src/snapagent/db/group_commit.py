"""`GroupCommit`: many callers' rows written in one transaction, each caller told once committed.

A recorded chat turn ends with a handful of small inserts (the run, its node executions, the
answer). Written one transaction per turn, 32 concurrent turns mean 32 transactions racing for
SQLite's single write lock (losers sleep in its busy handler) or 32 commits on PostgreSQL, and
every statement is a round trip (on SQLite, a thread hop). Here, one writer task per process
takes every `Writes` queued while the previous transaction ran and stores them together: the
rows of each table in one executemany, then the batch's other statements, then one commit.

A batch of rows alone (no other statement) skips the ORM (`bulk_insert`): on PostgreSQL it is
one statement in autocommit, one round trip, and up to ``in_flight`` such transactions run at
once (a commit waits for the server's WAL flush; the next batch need not wait for it); on
SQLite (``sqlite_direct``) one executemany per table and the COMMIT in one call on the
connection's thread. SQLite has one writer, so one transaction at a time.

Before taking its batch the writer lets the event loop run ``gather_yields`` times: under load
the turns it runs meanwhile finish their own work and queue their rows in this batch, where
the writer would otherwise commit what it found and leave them to the next. Fewer, bigger
batches cost less per turn - most of all in a process serving few connections, as each of
`serve --workers 2`'s does; an idle server loses the microseconds of two empty loop turns.

Durability is unchanged: :meth:`GroupCommit.write` returns only after the transaction holding
the caller's rows committed (a crash before that loses what was never acknowledged, exactly as
with a transaction of its own). Should a batch fail, every member is retried in a transaction of
its own, so one bad member never fails the others and the error each caller gets is its own.

    group = GroupCommit(db, max_batch=64)
    await group.write(Writes().insert(WorkflowExecutionRun, run_row).execute(update_stmt))
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from snapagent.db.base import Base
from snapagent.db.bulk_insert import TableRows, one_statement, sqlite_inserts
from snapagent.db.session import Database
from snapagent.db.sqlite_driver import deferred_inserts, insert_committed

__all__ = ["GroupCommit", "Step", "Writes"]

log = logging.getLogger(__name__)

Step = Callable[[AsyncSession], Awaitable[None]]


def _parents_first(tables: list[Table]) -> list[Table]:
    """``tables`` ordered so that a table comes after those its foreign keys point to (read
    from the keys' names: the referred tables need not be loaded in this process)."""
    by_name = {table.fullname: table for table in tables}
    ordered: list[Table] = []
    seen: set[str] = set()

    def visit(table: Table) -> None:
        if table.fullname in seen:
            return
        seen.add(table.fullname)
        for key in table.foreign_keys:
            parent = by_name.get(key.target_fullname.rsplit(".", 1)[0])
            if parent is not None:
                visit(parent)
        ordered.append(table)

    for table in tables:
        visit(table)
    return ordered


@dataclass(slots=True)
class Writes:
    """One caller's rows (inserted parents first: the tables' foreign-key order, whatever
    the order the batch's members came in) and other statements (run after every insert)."""

    rows: list[tuple[Table, dict[str, Any]]] = field(default_factory=list)
    statements: list[Executable | Step] = field(default_factory=list)

    def insert(self, model: type[Base], *rows: dict[str, Any]) -> Writes:
        table = model.__table__
        assert isinstance(table, Table)
        self.rows += [(table, row) for row in rows]
        return self

    def execute(self, statement: Executable) -> Writes:
        self.statements.append(statement)
        return self

    def then(self, step: Step) -> Writes:
        """A write that must read first (a compare-and-set): run in the transaction, in
        order with the statements; raising fails the batch, then this caller alone."""
        self.statements.append(step)
        return self

    def merge(self, other: Writes) -> Writes:
        self.rows += other.rows
        self.statements += other.statements
        return self

    def tables(self) -> list[TableRows]:
        """The rows by table (rows of one table share their keys), parents first."""
        by_table: dict[Table, list[dict[str, Any]]] = defaultdict(list)
        for table, row in self.rows:
            by_table[table].append(row)
        return [(table, by_table[table]) for table in _parents_first(list(by_table))]

    async def apply(self, session: AsyncSession) -> None:
        """Execute in ``session``'s transaction: one executemany per table, parents first,
        then the statements. On SQLite the inserts travel with the next statement or the
        COMMIT: one thread hop (`deferred_inserts`)."""
        async with deferred_inserts(session):
            for table, rows in self.tables():
                await session.execute(insert(table), rows)
        for statement in self.statements:
            if isinstance(statement, Executable):
                await session.execute(statement)
            else:
                await statement(session)


@dataclass(slots=True)
class _Member:
    writes: Writes
    done: asyncio.Future[None]


class GroupCommit:
    """See the module docstring. One per process (per `Database`); safe across event loops."""

    def __init__(
        self,
        database: Database,
        *,
        max_batch: int = 64,
        in_flight: int = 2,
        sqlite_direct: bool = True,
        gather_yields: int = 2,
    ) -> None:
        self.database = database
        self.sqlite_direct = sqlite_direct
        self.gather_yields = gather_yields
        self.max_batch = max_batch
        self.in_flight = 1 if database.is_sqlite else in_flight
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[_Member] = []
        self._writers: set[asyncio.Task[None]] = set()
        self.batches = 0  # transactions committed (with `members`: the batching achieved)
        self.members = 0

    async def write(self, writes: Writes) -> None:
        """Store ``writes``; returns once committed, raises what writing them alone raised.
        Cancelling the caller does not cancel the write."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._queue, self._writers = loop, [], set()
        member = _Member(writes, loop.create_future())
        self._queue.append(member)
        # (A writer that just found the queue empty is done but not yet discarded: not counted.)
        if sum(not writer.done() for writer in self._writers) < self.in_flight:
            writer = loop.create_task(self._drain())
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        await asyncio.shield(member.done)

    async def _drain(self) -> None:
        while self._queue:
            batch: list[_Member] = []
            try:
                # Let the turns the event loop is about to run reach the queue first: they
                # join this batch instead of starting the next (docs/performance.md item 12).
                for _ in range(self.gather_yields):
                    await asyncio.sleep(0)
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._commit(batch)
            except asyncio.CancelledError:
                for member in [*batch, *self._queue]:
                    member.done.cancel()
                raise

    async def _commit(self, batch: list[_Member]) -> None:
        if len(batch) > 1:
            merged = Writes()
            for member in batch:
                merged.merge(member.writes)
            try:
                await self._store(merged)
            except Exception as exc:
                log.warning("a batch of %d writes failed (%s); writing each alone", len(batch), exc)
            else:
                self._settle(batch)
                return
        for member in batch:  # alone: each gets its own outcome
            try:
                await self._store(member.writes)
            except Exception as exc:
                if not member.done.done():
                    member.done.set_exception(exc)
            else:
                self._settle([member])

    async def _store(self, writes: Writes) -> None:
        """One transaction. Rows alone (no other statement) skip the ORM: on PostgreSQL one
        statement in autocommit - one round trip - unless `one_statement` declines them; on
        SQLite, with `sqlite_direct`, one executemany per table and the COMMIT in one
        thread hop unless `sqlite_inserts` declines them."""
        engine = self.database.engine
        if self.database.is_postgres and not writes.statements:
            prepared = one_statement(writes.tables(), engine.dialect)
            if prepared is not None:
                async with engine.connect() as connection:
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await autocommit.exec_driver_sql(*prepared)
                return
        if self.sqlite_direct and self.database.is_sqlite and not writes.statements:
            inserts = sqlite_inserts(writes.tables(), engine.dialect)
            if inserts is not None:
                async with self.database.writing(), engine.connect() as connection:
                    await insert_committed(connection, inserts)
                return
        async with self.database.writing(), self.database.transaction() as session:
            await writes.apply(session)

    def _settle(self, members: list[_Member]) -> None:
        self.batches += 1
        self.members += len(members)
        for member in members:
            if not member.done.done():
                member.done.set_result(None)
