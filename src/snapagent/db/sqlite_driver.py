"""SQLite through aiosqlite with one thread hop per statement, none for an idle commit/rollback.

aiosqlite runs every sqlite3 call on the connection's own thread; each call is a hand-off
(a queue put, a futex wake-up, a GIL switch, then ``call_soon_threadsafe`` back to the event
loop). SQLAlchemy's adapter makes four such calls per SELECT (cursor, execute, fetchall, close)
and three per INSERT, plus one per COMMIT or ROLLBACK - also when no transaction is open, as
after a request that only read. Under concurrent chat turns the process spent half its CPU in
the kernel on these hand-offs.

Here a statement is one function run on that thread (create a cursor, execute, fetch every row,
close), and a COMMIT or ROLLBACK with no open transaction costs nothing. Inside
:func:`deferred_inserts` (the group commit's rows, `Writes.apply`) an INSERT is not sent at all:
it waits for the connection's next statement or COMMIT and goes in the same hop, so a batch of
many turns' rows is one hop with its COMMIT. (An INSERT so deferred reports no rowcount, and
its error - a broken constraint - is raised by the statement or COMMIT that sent it.)

:func:`insert_committed` goes further for a group commit of rows alone: the whole transaction
(BEGIN IMMEDIATE, an executemany per table, COMMIT) is one call on the connection's thread,
with no SQLAlchemy statement, session or execution context on the event loop.

Everything else is SQLAlchemy's own aiosqlite dialect, unchanged: the adapter is passed as the
engine's DBAPI ``module`` (see `Database`), so URLs, type handling, errors and disconnect
detection are the same.

Reading ``in_transaction`` on the event loop thread is safe: it reads SQLite's autocommit flag
without touching the connection's thread, and a pooled connection runs nothing else meanwhile.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.util.concurrency import await_

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "WRITE_LOCK_POLL_S",
    "OneHopSQLite",
    "deferred_inserts",
    "insert_committed",
    "one_hop_sqlite",
]

# How long a SQLite writer waits for the lock held by another connection before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_LOCK_POLL_S = 0.0002
"""How often a group commit tries SQLite's write lock while another process holds it."""

_Outcome = tuple[Any, list[Any], int, int | None]
"""A statement's ``(description, rows, rowcount, lastrowid)``."""
_Statement = tuple[str, Any, bool]
"""``(operation, parameters, many)``"""


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """One statement, on the connection's thread: everything the cursor will be asked."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _take_write_lock(connection: sqlite3.Connection) -> None:
    """Begin the transaction the deferred inserts open with SQLite's write lock taken,
    trying every `WRITE_LOCK_POLL_S` while another process holds it.

    SQLite's own busy handler naps 1, 2, 5, 10 ... ms between tries: with `serve --workers 2`
    each process commits a batch every few milliseconds and holds the lock for about one,
    so a writer that met the other's lock slept past several free moments while its requests
    (and, once all of them waited on it, its event loop) stood still. Trying again every
    0.2 ms finds the lock the moment it is free - the other process needs far longer than
    that to come back with its next batch. The busy timeout still bounds the wait."""
    if connection.in_transaction or connection.isolation_level is None:
        return  # the lock is held already / autocommit: no transaction to open here
    connection.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                busy = error.sqlite_errorcode == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(WRITE_LOCK_POLL_S)
    finally:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _run_after(
    connection: sqlite3.Connection,
    deferred: list[_Statement],
    operation: str,
    parameters: Any,
    many: bool,
) -> _Outcome:
    _take_write_lock(connection)
    for statement in deferred:
        _run(connection, *statement)
    return _run(connection, operation, parameters, many)


def _commit_after(connection: sqlite3.Connection, deferred: list[_Statement]) -> None:
    _take_write_lock(connection)
    for statement in deferred:
        _run(connection, *statement)
    connection.commit()


def _insert_committed(
    connection: sqlite3.Connection, inserts: list[tuple[str, list[Any]]]
) -> tuple[str, BaseException] | None:
    """`insert_committed` on the connection's thread: the failing statement and its error,
    with everything rolled back, or None once committed."""
    operation = "BEGIN IMMEDIATE"
    try:
        _take_write_lock(connection)
        for operation, rows in inserts:
            connection.executemany(operation, rows)
        operation = "COMMIT"
        connection.commit()
    except sqlite3.Error as error:
        if connection.in_transaction:
            connection.rollback()
        return operation, error
    return None


async def insert_committed(
    connection: AsyncConnection, inserts: list[tuple[str, list[Any]]]
) -> None:
    """Run ``inserts`` (SQL with ``?`` parameters, rows as tuples: `bulk_insert.sqlite_inserts`)
    in one transaction of their own on ``connection``: BEGIN IMMEDIATE (the write lock taken
    as `_take_write_lock` does), one executemany each, COMMIT - one thread hop, nothing of
    SQLAlchemy's per statement. A failure is rolled back and raised as SQLAlchemy would have
    raised it (``IntegrityError`` for a broken constraint, ...). ``connection`` must have no
    transaction open."""
    raw = await connection.get_raw_connection()
    adapted = raw.dbapi_connection
    assert isinstance(adapted, _OneHopConnection)
    driver = cast(aiosqlite.Connection, adapted._connection)
    failed: tuple[str, BaseException] | None = await driver._execute(
        _insert_committed, driver._conn, inserts
    )
    if failed is not None:
        operation, error = failed
        raise DBAPIError.instance(operation, None, error, sqlite3.Error) from error


def _deferrable(operation: str) -> bool:
    """An INSERT whose results nobody reads (no RETURNING)."""
    head = operation.lstrip()[:6].upper()
    return head == "INSERT" and "RETURNING" not in operation.upper()


class _OneHopCursor:
    """A DBAPI cursor whose ``execute`` is one hop and whose rows are already here."""

    server_side = False
    __slots__ = ("_adapted", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, adapted: _OneHopConnection) -> None:
        self._adapted = adapted
        self._rows: collections.deque[Any] = collections.deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    def _hop(self, operation: str, parameters: Any, many: bool) -> None:
        adapted = self._adapted
        if adapted._deferring and _deferrable(operation):
            adapted._deferred.append((operation, parameters, many))
            self.description, self.rowcount, self.lastrowid = None, -1, None
            self._rows.clear()
            return
        driver = cast(aiosqlite.Connection, adapted._connection)
        deferred, adapted._deferred = adapted._deferred, []
        try:
            outcome: _Outcome = await_(
                driver._execute(_run_after, driver._conn, deferred, operation, parameters, many)  # type: ignore[no-untyped-call]
                if deferred
                else driver._execute(_run, driver._conn, operation, parameters, many)  # type: ignore[no-untyped-call]
            )
        except Exception as error:
            adapted._handle_exception(error)
        self.description, rows, self.rowcount, self.lastrowid = outcome
        self._rows = collections.deque(rows)

    def execute(self, operation: str, parameters: Any = None) -> None:
        self._hop(operation, parameters, False)

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._hop(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed on its thread (see `_run`)."""

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *sizes: Any) -> None:
        return None

    def nextset(self) -> None:
        return None

    def __enter__(self) -> _OneHopCursor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows
        return [rows.popleft() for _ in range(min(size or self.arraysize, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_deferred", "_deferring")
    _cursor_cls = _OneHopCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._deferring = False
        self._deferred: list[_Statement] = []

    def _idle(self) -> bool:
        raw: sqlite3.Connection | None = cast(aiosqlite.Connection, self._connection)._connection
        return raw is not None and not raw.in_transaction

    def commit(self) -> None:
        if self._deferred:
            driver = cast(aiosqlite.Connection, self._connection)
            deferred, self._deferred = self._deferred, []
            try:
                await_(driver._execute(_commit_after, driver._conn, deferred))  # type: ignore[no-untyped-call]
            except Exception as error:
                self._handle_exception(error)
        elif not self._idle():
            super().commit()

    def rollback(self) -> None:
        self._deferred = []  # never sent: nothing of them to undo
        if not self._idle():
            super().rollback()


class OneHopSQLite(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter, its connections making one hop per statement."""

    def connect(self, *arg: Any, **kw: Any) -> _OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return _OneHopConnection(self, adapted._connection)


def one_hop_sqlite() -> OneHopSQLite:
    """The DBAPI ``module`` to give ``create_async_engine`` for a ``sqlite+aiosqlite`` URL."""
    return OneHopSQLite(aiosqlite, sqlite3)


@asynccontextmanager
async def deferred_inserts(session: AsyncSession) -> AsyncIterator[None]:
    """Within the block, ``session``'s INSERTs go with its next statement or COMMIT (one hop);
    a no-op on other databases."""
    connection = await (await session.connection()).get_raw_connection()
    adapted = connection.dbapi_connection
    if not isinstance(adapted, _OneHopConnection):
        yield
        return
    adapted._deferring = True
    try:
        yield
    finally:
        adapted._deferring = False
