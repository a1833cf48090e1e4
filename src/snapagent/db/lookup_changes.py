"""`LookupChanges`: when the rows behind the request caches change, on every process at once.

The API caches what every request would otherwise read again - an API key or a token's user,
a bot with its published version, the knowledge bases a retrieval reads
(`snapagent.services.lookup_cache`). A cached copy is good only while no write to ``users``,
``api_keys``, ``bots``, ``bot_workflow_versions`` or ``knowledge_bases`` has committed since
it was read, in this process or any other. This module tells: a *generation*
that changes whenever such a write commits anywhere, or ``None`` while nobody can tell (then
the caches are bypassed - never stale, only slower).

How writes are seen: one engine hook (``before_execute``) classifies every statement this
process's engine runs - ORM flushes, bulk statements and Core alike - so no service has to
remember to invalidate. INSERTs are ignored (a new row makes no cached copy stale; the caches
keep no misses) except versions inserted as published; statements marked
``execution_options(lookups_unchanged=True)`` (a draft's save, an API key's last-use time) are
ignored too. The first changing statement of a transaction *announces* it:

- in this process: the local generation goes up before the statement runs and again right after
  the COMMIT (the dialect's ``do_commit``), so the process that made a change honours it at once;
- SQLite (every process on one host: ``serve --workers N``, the CLI): the same two steps bump a
  counter in a small memory-mapped file next to the database (``<db>.lookups``; an increment
  under ``flock``, a read is a memory load). A copy read between the two steps carries the
  first bump's value and is dropped by the second;
- PostgreSQL: ``pg_notify('snapagent_lookups', '')`` inside the transaction, delivered by the
  server on COMMIT (dropped on rollback) to one LISTEN connection per process (asyncpg, started
  by `listening`), which bumps the local generation. While that connection is not listening -
  not started yet, lost, reconnecting - `generation` is ``None``; it bumps again once listening
  (notifications may have been missed meanwhile). A periodic ``SELECT 1`` on it catches a
  connection that died silently.

The windows left (docs/performance.md, "Guarantees kept"): another process may serve the
previous state for the time between a COMMIT and its announcement reaching it (SQLite: the
microseconds to the second bump; PostgreSQL: the notification's trip, and up to
``check_s`` + its timeout when the listening connection died without a word); a process killed
between its COMMIT and its second bump leaves what others read during that write stale until
the next change or the caches' TTL; raw SQL (``text()``) and writes by other programs are not
seen (the TTL bounds them).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import mmap
import os
import struct
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import Delete, Insert, Update

from snapagent.private_files import create_private_file

__all__ = ["CHANNEL", "LISTENER_NAME", "UNCHANGED", "WATCHED_TABLES", "LookupChanges"]

log = logging.getLogger(__name__)

CHANNEL = "snapagent_lookups"
LISTENER_NAME = "snapagent lookup listener"
"""The listening connection's ``application_name`` (what operators see in pg_stat_activity)."""
UNCHANGED = "lookups_unchanged"
"""Execution option: this statement changes nothing a lookup cache holds (say why where used)."""
WATCHED_TABLES = frozenset(
    {"users", "api_keys", "bots", "bot_workflow_versions", "knowledge_bases"}
)
_VERSIONS = "bot_workflow_versions"
# Per pooled DBAPI connection: the transaction that already announced its change.
_ANNOUNCED = "snapagent_lookups_announced"
_COUNTER = struct.Struct("<Q")


class _SharedCounter:
    """A 64-bit counter in a file that every process on the host maps."""

    def __init__(self, path: Path) -> None:
        create_private_file(path)
        self._path = path
        with path.open("r+b") as file:
            if os.fstat(file.fileno()).st_size < _COUNTER.size:
                os.truncate(file.fileno(), _COUNTER.size)  # zeros; never shrinks another's
            # The map keeps its own descriptor; the file is opened again only to bump.
            self._map = mmap.mmap(file.fileno(), _COUNTER.size)

    def value(self) -> int:
        value: int = _COUNTER.unpack_from(self._map)[0]
        return value

    def bump(self) -> None:
        with self._path.open("r+b") as file:
            # Increments from several processes never merge (writes are rare: a lock is fine).
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            _COUNTER.pack_into(self._map, 0, (self.value() + 1) % 2**64)


def _rows(multiparams: Any, params: Any) -> Sequence[Mapping[str, Any]]:
    if multiparams:
        return [row for row in multiparams if isinstance(row, Mapping)]
    return [params] if params else []


def changes_lookups(
    statement: Any, multiparams: Any, params: Any, options: Mapping[str, Any]
) -> bool:
    """Whether ``statement`` may change a row a lookup cache holds (see the module doc)."""
    if not isinstance(statement, Insert | Update | Delete):
        return False
    name = getattr(statement.table, "name", None)
    if name not in WATCHED_TABLES:
        return False
    if options.get(UNCHANGED) or statement.get_execution_options().get(UNCHANGED):
        return False
    if isinstance(statement, Insert):
        if name != _VERSIONS:
            return False
        rows = _rows(multiparams, params)
        # A version inserted as published (a rollback's copy, an import) goes live.
        return not rows or any(row.get("status") != "draft" for row in rows)
    return True


class LookupChanges:
    """See the module docstring. One per `Database`; `install` it on the engine."""

    def __init__(self, dialect: str, shared_file: Path | None) -> None:
        self.dialect = dialect
        self._local = 0
        self._shared = _SharedCounter(shared_file) if shared_file is not None else None
        # SQLite answers from the file; PostgreSQL only while its listener listens.
        self._listening = dialect != "postgresql"
        self._listeners = 0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_database(cls, dialect: str, database: str | None) -> LookupChanges:
        """The signal of one database URL: a SQLite file gets its shared counter file; an
        in-memory SQLite has only this process to tell."""
        if dialect == "sqlite" and database and database != ":memory:":
            if database.startswith("file:"):
                return _Unknowable(dialect)  # a URI: where the file is, we cannot be sure
            return cls(dialect, Path(f"{database}.lookups"))
        return cls(dialect, None)

    def generation(self) -> int | None:
        """Changes whenever a watched write committed anywhere; ``None``: bypass the caches."""
        if not self._listening:
            return None
        if self._shared is None:
            return self._local
        return self._local + self._shared.value()

    def bump(self) -> None:
        """Everything cached so far is stale (a change, or announcements may have been lost)."""
        self._local += 1
        if self._shared is not None:
            self._shared.bump()

    # -- the writer's side ------------------------------------------------------------------

    def install(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine
        event.listen(sync_engine, "before_execute", self._before_execute)
        # No rollback hook: a rolled-back transaction's mark names that transaction, so the
        # next one on the connection announces again (and a commit after it bumps once more,
        # harmlessly). A hook there would also run on connections already invalidated.
        _after_commit(sync_engine.dialect, self._committed)

    def _before_execute(
        self,
        conn: Connection,
        statement: Any,
        multiparams: Any,
        params: Any,
        options: Mapping[str, Any],
    ) -> None:
        if not changes_lookups(statement, multiparams, params, options):
            return
        transaction = conn.get_transaction()
        info = conn.info
        if transaction is not None and info.get(_ANNOUNCED) is transaction:
            return
        info[_ANNOUNCED] = transaction
        self.bump()  # copies read from now until the commit are dropped by the second bump
        if self.dialect == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_notify('{CHANNEL}', '')")

    def _committed(self, dbapi_connection: Any) -> None:
        info = getattr(dbapi_connection, "info", None)
        if info is not None and info.pop(_ANNOUNCED, False) is not False:
            self.bump()

    # -- the reader's side on PostgreSQL ----------------------------------------------------

    @contextlib.asynccontextmanager
    async def listening(self, engine: AsyncEngine, *, check_s: float = 5.0) -> AsyncIterator[None]:
        """Keep one LISTEN connection while the context is open (PostgreSQL; a no-op on
        SQLite). Nested uses (several apps on one database) share it."""
        if self.dialect != "postgresql":
            yield
            return
        self._listeners += 1
        if self._task is None:
            self._task = asyncio.create_task(self._listen(engine, check_s))
        try:
            yield
        finally:
            self._listeners -= 1
            if self._listeners == 0 and self._task is not None:
                task, self._task = self._task, None
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                self._listening = False

    async def _listen(self, engine: AsyncEngine, check_s: float) -> None:
        # Its own engine without a pool: the listener never takes a request's connection.
        listener_engine = create_async_engine(
            engine.url,
            poolclass=NullPool,
            connect_args={"server_settings": {"application_name": LISTENER_NAME}},
        )
        delay = 0.1
        try:
            while True:
                try:
                    await self._listen_once(listener_engine, check_s)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # down: bypass the caches until we listen again
                    log.warning("lookup cache listener lost (%s); caches bypassed", exc)
                self._listening = False
                self.bump()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        finally:
            self._listening = False
            await listener_engine.dispose()

    async def _listen_once(self, listener_engine: AsyncEngine, check_s: float) -> None:
        async with listener_engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            lost = asyncio.Event()
            raw.add_termination_listener(lambda _conn: lost.set())
            await raw.add_listener(CHANNEL, lambda *_args: self._heard())
            self.bump()  # what was read while nobody listened may be stale
            self._listening = True
            log.info("lookup cache listener ready")
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), check_s)
                if not lost.is_set():
                    await asyncio.wait_for(raw.fetchval("SELECT 1"), check_s)
            raise ConnectionError("the listening connection closed")

    def _heard(self) -> None:
        self._local += 1


class _Unknowable(LookupChanges):
    """A database whose other processes we cannot hear: the caches are always bypassed."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect, None)

    def generation(self) -> int | None:
        return None


def _after_commit(dialect: Dialect, committed: Any) -> None:
    """Call ``committed(dbapi_connection)`` right after each COMMIT on ``dialect`` (SQLAlchemy's
    ``commit`` event fires before it)."""
    do_commit = dialect.do_commit

    def do_commit_then_tell(dbapi_connection: Any) -> None:
        do_commit(dbapi_connection)
        committed(dbapi_connection)

    dialect.do_commit = do_commit_then_tell  # type: ignore[method-assign]
