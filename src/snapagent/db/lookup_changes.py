"""`LookupChanges`: when the rows behind the request caches change, on every process at once.

The API caches what every request would otherwise read again (`snapagent.services.lookup_cache`),
in three *kinds*, each staled by its own tables (`TABLE_KINDS`):

- ``credentials`` - an API key or a token's user: ``users``, ``api_keys``;
- ``bots`` - a bot with its published version: ``bots``, ``bot_workflow_versions``;
- ``knowledge_bases`` - the rows a retrieval reads: ``knowledge_bases`` (every document change
  bumps its knowledge base's revision).

A write to ``users`` counts for every kind: everything cached belongs to a user, and deleting
one removes their bots and knowledge bases by the database's ``ON DELETE CASCADE``, which no
statement of ours names. A cached copy is good only while no write of its kind has committed
since it was read, in this process or any other. This module tells, per kind: a *generation*
that changes whenever such a write commits anywhere, or ``None`` while nobody can tell (then
the caches are bypassed - never stale, only slower). So a document upload empties the
knowledge-base rows only, and an API key's revocation the credentials only.

How writes are seen: one engine hook (``before_execute``) classifies every statement this
process's engine runs - ORM flushes, bulk statements and Core alike - so no service has to
remember to invalidate. INSERTs are ignored (a new row makes no cached copy stale; the caches
keep no misses) except versions inserted as published; statements marked
``execution_options(lookups_unchanged=True)`` (a draft's save, an API key's last-use time) are
ignored too. The first statement of a transaction that changes a kind *announces* that kind:

- in this process: the kind's local generation goes up before the statement runs and again
  right after the COMMIT (the dialect's ``do_commit``), so the process that made a change
  honours it at once;
- SQLite (every process on one host: ``serve --workers N``, the CLI): the same two steps bump
  the kind's counter in a small memory-mapped file next to the database (``<db>.lookups``, a
  64-bit counter per kind; an increment under ``flock``, a read is a memory load). A copy read
  between the two steps carries the first bump's value and is dropped by the second;
- PostgreSQL: ``pg_notify('snapagent_lookups', '<kind>[,<kind>...]')`` inside the transaction,
  delivered by the server on COMMIT (dropped on rollback) to one LISTEN connection per process
  (asyncpg, started by `listening`), which bumps the local generations of the kinds named (all
  of them for a payload it does not know). While that connection is not listening - not
  started yet, lost, reconnecting - `generation` is ``None``; every kind bumps again once
  listening (notifications may have been missed meanwhile). A periodic ``SELECT 1`` on it
  catches a connection that died silently.

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
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, get_args

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.dml import Delete, Insert, Update

from snapagent.private_files import create_private_file

__all__ = [
    "CHANNEL",
    "KINDS",
    "LISTENER_NAME",
    "TABLE_KINDS",
    "UNCHANGED",
    "WATCHED_TABLES",
    "LookupChanges",
    "LookupKind",
    "changed_kinds",
]

log = logging.getLogger(__name__)

CHANNEL = "snapagent_lookups"
LISTENER_NAME = "snapagent lookup listener"
"""The listening connection's ``application_name`` (what operators see in pg_stat_activity)."""
UNCHANGED = "lookups_unchanged"
"""Execution option: this statement changes nothing a lookup cache holds (say why where used)."""
LookupKind = Literal["credentials", "bots", "knowledge_bases"]
"""What a `LookupCache` holds; each kind has its own generation."""
KINDS: Final[tuple[LookupKind, ...]] = get_args(LookupKind)
TABLE_KINDS: Final[Mapping[str, frozenset[LookupKind]]] = {
    "users": frozenset(KINDS),  # the owner of everything cached (and cascades to it)
    "api_keys": frozenset({"credentials"}),
    "bots": frozenset({"bots"}),
    "bot_workflow_versions": frozenset({"bots"}),
    "knowledge_bases": frozenset({"knowledge_bases"}),
}
"""The kinds a committed write to each watched table stales."""
WATCHED_TABLES = frozenset(TABLE_KINDS)
_VERSIONS = "bot_workflow_versions"
_NOTHING: frozenset[LookupKind] = frozenset()
# Per pooled DBAPI connection: (the transaction, the kinds it announced so far).
_ANNOUNCED = "snapagent_lookups_announced"
# A counter per kind, in the order of KINDS (the file's layout: append new kinds only).
_COUNTERS = struct.Struct(f"<{len(KINDS)}Q")


class _SharedCounters:
    """A 64-bit counter per kind in a file that every process on the host maps."""

    def __init__(self, path: Path) -> None:
        create_private_file(path)
        self._path = path
        with path.open("r+b") as file:
            if os.fstat(file.fileno()).st_size < _COUNTERS.size:
                os.truncate(file.fileno(), _COUNTERS.size)  # zeros; never shrinks another's
            # The map keeps its own descriptor; the file is opened again only to bump.
            self._map = mmap.mmap(file.fileno(), _COUNTERS.size)

    def value(self, kind: LookupKind) -> int:
        value: int = struct.unpack_from("<Q", self._map, 8 * KINDS.index(kind))[0]
        return value

    def bump(self, kinds: Collection[LookupKind]) -> None:
        with self._path.open("r+b") as file:
            # Increments from several processes never merge (writes are rare: a lock is fine).
            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
            counters = list(_COUNTERS.unpack_from(self._map))
            for kind in kinds:
                index = KINDS.index(kind)
                counters[index] = (counters[index] + 1) % 2**64
            _COUNTERS.pack_into(self._map, 0, *counters)


def _rows(multiparams: Any, params: Any) -> Sequence[Mapping[str, Any]]:
    if multiparams:
        return [row for row in multiparams if isinstance(row, Mapping)]
    return [params] if params else []


def changed_kinds(
    statement: Any, multiparams: Any, params: Any, options: Mapping[str, Any]
) -> frozenset[LookupKind]:
    """The kinds of lookup ``statement`` may stale (see the module doc); empty: none."""
    if not isinstance(statement, Insert | Update | Delete):
        return _NOTHING
    kinds = TABLE_KINDS.get(getattr(statement.table, "name", None) or "", _NOTHING)
    if not kinds:
        return _NOTHING
    if options.get(UNCHANGED) or statement.get_execution_options().get(UNCHANGED):
        return _NOTHING
    if isinstance(statement, Insert):
        if statement.table.name != _VERSIONS:
            return _NOTHING
        rows = _rows(multiparams, params)
        # A version inserted as published (a rollback's copy, an import) goes live.
        return kinds if not rows or any(row.get("status") != "draft" for row in rows) else _NOTHING
    return kinds


def _kinds_heard(payload: str) -> Collection[LookupKind]:
    """The kinds a notification names; every kind for one we cannot read (an older writer's
    empty payload, a kind this release does not know)."""
    named = payload.split(",")
    if all(kind in KINDS for kind in named):  # "" (an empty payload) is no kind
        return [kind for kind in KINDS if kind in named]
    return KINDS


class LookupChanges:
    """See the module docstring. One per `Database`; `install` it on the engine."""

    def __init__(self, dialect: str, shared_file: Path | None) -> None:
        self.dialect = dialect
        self._local: dict[LookupKind, int] = dict.fromkeys(KINDS, 0)
        self._shared = _SharedCounters(shared_file) if shared_file is not None else None
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

    def generation(self, kind: LookupKind) -> int | None:
        """Changes whenever a write that stales ``kind`` committed anywhere; ``None``: bypass
        the caches."""
        if not self._listening:
            return None
        if self._shared is None:
            return self._local[kind]
        return self._local[kind] + self._shared.value(kind)

    def bump(self, kinds: Collection[LookupKind] = KINDS) -> None:
        """What is cached of ``kinds`` so far is stale (a change, or announcements may have
        been lost: then every kind)."""
        self._bump_local(kinds)
        if self._shared is not None:
            self._shared.bump(kinds)

    def _bump_local(self, kinds: Collection[LookupKind]) -> None:
        for kind in kinds:
            self._local[kind] += 1

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
        kinds = changed_kinds(statement, multiparams, params, options)
        if not kinds:
            return
        transaction = conn.get_transaction()
        info = conn.info
        marked, already = info.get(_ANNOUNCED, (None, _NOTHING))
        if marked is not transaction:  # another (rolled-back) transaction's mark
            already = _NOTHING
        new = kinds - already
        if not new:
            return
        info[_ANNOUNCED] = (transaction, already | new)
        self.bump(new)  # copies read from now until the commit are dropped by the second bump
        if self.dialect == "postgresql":
            payload = ",".join(kind for kind in KINDS if kind in new)  # names from KINDS only
            conn.exec_driver_sql(f"SELECT pg_notify('{CHANNEL}', '{payload}')")

    def _committed(self, dbapi_connection: Any) -> None:
        info = getattr(dbapi_connection, "info", None)
        announced = info.pop(_ANNOUNCED, None) if info is not None else None
        if announced is not None:
            self.bump(announced[1])

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
            await raw.add_listener(CHANNEL, lambda *args: self._heard(args[-1]))
            self.bump()  # what was read while nobody listened may be stale
            self._listening = True
            log.info("lookup cache listener ready")
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), check_s)
                if not lost.is_set():
                    await asyncio.wait_for(raw.fetchval("SELECT 1"), check_s)
            raise ConnectionError("the listening connection closed")

    def _heard(self, payload: str) -> None:
        self._bump_local(_kinds_heard(payload))


class _Unknowable(LookupChanges):
    """A database whose other processes we cannot hear: the caches are always bypassed."""

    def __init__(self, dialect: str) -> None:
        super().__init__(dialect, None)

    def generation(self, kind: LookupKind) -> int | None:
        return None


def _after_commit(dialect: Dialect, committed: Any) -> None:
    """Call ``committed(dbapi_connection)`` right after each COMMIT on ``dialect`` (SQLAlchemy's
    ``commit`` event fires before it)."""
    do_commit = dialect.do_commit

    def do_commit_then_tell(dbapi_connection: Any) -> None:
        do_commit(dbapi_connection)
        committed(dbapi_connection)

    dialect.do_commit = do_commit_then_tell  # type: ignore[method-assign]
