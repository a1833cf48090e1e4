"""The database handle: one async engine and its session factory per process.

SQLite (the embedded default, a file under ``data_dir``) runs with WAL, foreign keys ON and a
busy timeout so the background ingestion worker and request handlers can share the file.
PostgreSQL is reached through asyncpg. Unreachable databases surface as
:class:`~snapagent.errors.UnavailableError`, never as a driver traceback.

    db = Database.from_settings(get_core_settings())
    async with db.session() as session:
        ...
    await db.dispose()
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import QueuePool

from snapagent.db.lookup_changes import LookupChanges
from snapagent.db.shared_check import SharedCheck
from snapagent.db.sqlite_driver import SQLITE_BUSY_TIMEOUT_MS, one_hop_sqlite
from snapagent.errors import InputValidationError, UnavailableError
from snapagent.private_files import create_private_file, make_private_dir
from snapagent.settings import CoreSettings, DatabaseSettings

__all__ = ["Database", "redact_url"]

log = logging.getLogger(__name__)


_KeptProbe = tuple[asyncio.AbstractEventLoop, AsyncConnection, sqlite3.Connection | None]
"""/health's kept probe connection: its event loop, the connection, SQLite's sqlite3 one."""


def redact_url(url: str | URL) -> str:
    """The URL with any password hidden, safe for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def _parse_url(url: str) -> URL:
    # make_url rejects the "postgres://" spelling many hosting providers hand out.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InputValidationError(
            "DATABASE_URL is not a valid SQLAlchemy URL", field="DATABASE_URL"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise InputValidationError(
            f"unsupported database {backend!r}: use SQLite or PostgreSQL", field="DATABASE_URL"
        )
    # Synchronous drivers would block the event loop: pick the async one for the user.
    if backend == "sqlite" and parsed.get_driver_name() != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        if parsed.get_driver_name() != "asyncpg":
            parsed = parsed.set(drivername="postgresql+asyncpg")
        # libpq's "sslmode" is spelled "ssl" by asyncpg (same values: require, verify-full...).
        if "sslmode" in parsed.query:
            query = dict(parsed.query)
            query.setdefault("ssl", query.pop("sslmode"))
            parsed = parsed.set(query=query)
    return parsed


def _sqlite_pragmas(synchronous: str) -> Callable[[Any, Any], None]:
    def set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")  # one of two literals (settings)
        cursor.close()

    return set_pragmas


def _refuse_closed_postgres(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # A connection the server closed (a restart, an idle timeout) is known to asyncpg without
    # a round trip: refuse it and the pool opens a fresh one (pool_pre_ping asks the server).
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this connection")


def _in_memory(url: URL) -> bool:
    """An in-memory SQLite database: one connection shared (SQLAlchemy's StaticPool)."""
    return not issubclass(SQLiteDialect_aiosqlite.get_pool_class(url), QueuePool)


class Database:
    """An async engine plus its session factory; create one per process and share it.

    >>> db = Database("sqlite+aiosqlite:///./data/snapagent.db")  # doctest: +SKIP
    >>> async with db.session() as session:  # doctest: +SKIP
    ...     await session.execute(text("SELECT 1"))
    """

    def __init__(
        self, url: str, *, echo: bool = False, settings: DatabaseSettings | None = None
    ) -> None:
        self.url: URL = _parse_url(url)
        pool = settings or DatabaseSettings()  # (pool sizes, SQLite's durability)
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            # One thread hop per statement instead of three or four (see sqlite_driver).
            kwargs["module"] = one_hop_sqlite()
            path = self.url.database
            if path and path != ":memory:" and not path.startswith("file:"):
                # Private from the first byte: SQLite gives -wal/-shm the database's mode.
                make_private_dir(Path(path).parent)
                create_private_file(Path(path))
        else:
            kwargs["pool_pre_ping"] = pool.pool_pre_ping
        if not self.is_sqlite or not _in_memory(self.url):
            # (Not an in-memory SQLite database: that is one shared connection.)
            kwargs |= {
                "pool_size": pool.pool_size,
                "max_overflow": pool.max_overflow,
                "pool_timeout": pool.pool_timeout_s,
            }
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            pragmas = _sqlite_pragmas(pool.sqlite_synchronous)
            event.listen(self.engine.sync_engine, "connect", pragmas)
        else:
            event.listen(self.engine.sync_engine, "checkout", _refuse_closed_postgres)
        # Commits that change what the request caches hold, told to every process.
        self.lookup_changes = LookupChanges.for_database(self.dialect, self.url.database)
        self.lookup_changes.install(self.engine)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        # /health's probe: concurrent requests share one fresh check (see SharedCheck).
        self._health = SharedCheck(self._health_report)
        # The connection /health's probe keeps between probes, with its event loop (and, on
        # SQLite, the sqlite3 connection under it: see _probe_inline).
        self._probe_conn: _KeptProbe | None = None
        self._writer: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @classmethod
    def from_settings(cls, settings: CoreSettings) -> Database:
        return cls(settings.effective_database_url)  # (pool, durability: DatabaseSettings())

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def safe_url(self) -> str:
        return redact_url(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session for one unit of work; commit explicitly, rolled back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold this process's SQLite write turn (a no-op on PostgreSQL).

        SQLite admits one writer at a time; a transaction that finds the lock taken sleeps in
        SQLite's busy handler (ever longer naps, up to the busy timeout), so under concurrent
        chat turns most of the time went to sleeping. The process's writers wait here instead,
        in arrival order, and each finds the lock free (other processes still meet the busy
        handler: with one thread hop per batch, see `sqlite_driver`, a process holds SQLite's
        lock only for that hop). Hold it around a whole write transaction; it is not
        reentrant."""
        if not self.is_sqlite:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer[0] is not loop:
            self._writer = (loop, asyncio.Lock())
        async with self._writer[1]:
            yield

    async def check(self) -> None:
        """Run ``SELECT 1``; raise :class:`UnavailableError` if the database cannot answer."""
        try:
            async with self.engine.connect() as conn:
                await self._select_1(conn)
        except (OSError, DBAPIError, OperationalError) as exc:
            raise self.unavailable(exc) from exc

    async def _select_1(self, conn: AsyncConnection) -> None:
        if not self.is_sqlite:
            # No BEGIN and ROLLBACK around it: one round trip instead of three (asyncpg
            # applies AUTOCOMMIT without asking the server; SQLite's own setting would cost
            # thread hops, and a SELECT there opens no transaction: pysqlite begins one only
            # before a write). Never idle in a transaction on PostgreSQL, either.
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql("SELECT 1")

    async def _probe_check(self) -> None:
        """:meth:`check` for ``/health``, on one connection kept from probe to probe.

        A pool checkout and checkin (and PostgreSQL's pre-ping) per probe cost more than the
        ``SELECT 1``. Only a success is answered from the kept connection: any failure drops it
        and the ordinary check on a fresh connection decides, so an outage is reported by the
        next probe and a connection gone stale (a server restart) is never reported as one.
        (An in-memory SQLite database shares its one connection: nothing is kept there.)"""
        loop = asyncio.get_running_loop()
        kept, self._probe_conn = self._probe_conn, None
        if kept is not None:
            if kept[0] is loop:
                try:
                    await kept[1].exec_driver_sql("SELECT 1")
                except Exception:  # whatever it was, the fresh check below tells the truth
                    await self._drop(kept[1], invalidate=True)
                else:
                    self._probe_conn = kept
                    return
            else:  # from an event loop that is gone (tests run several)
                await self._drop(kept[1], invalidate=False)
        if self.is_sqlite and _in_memory(self.url):
            await self.check()
            return
        try:
            conn = await self.engine.connect()
        except (OSError, DBAPIError, OperationalError) as exc:
            raise self.unavailable(exc) from exc
        try:
            await self._select_1(conn)
        except (OSError, DBAPIError, OperationalError) as exc:
            await self._drop(conn, invalidate=True)
            raise self.unavailable(exc) from exc
        raw: sqlite3.Connection | None = None
        if self.is_sqlite:  # (aiosqlite's connection; its sqlite3 one allows other threads)
            driver: Any = (await conn.get_raw_connection()).driver_connection
            raw = driver._conn
        self._probe_conn = (loop, conn, raw)

    def _probe_inline(self) -> bool:
        """SQLite: ``SELECT 1`` on the probe's kept connection, right here on the event loop.

        The statement names no table: SQLite takes no lock and reads no page for it (its
        program is Init, Integer, ResultRow, Halt), so it cannot wait for a writer, a busy
        handler or the disk - a few microseconds, where the hop to the connection's thread and
        back was a fifth of the event loop's time on ``/health``. It runs inside the request, so
        its answer is as fresh as can be. Used only while the connection sits idle in
        ``_probe_conn`` (a probe through `SharedCheck` takes it out first, so the two never
        share it), and only a success is answered from it: anything else - no kept connection,
        another event loop, an error - returns False and the request takes the shared way
        (:meth:`_probe_check`), which drops a failing connection and asks a fresh one."""
        kept = self._probe_conn
        if kept is None or kept[2] is None:
            return False
        try:
            if kept[0] is not asyncio.get_running_loop():
                return False
            return bool(kept[2].execute("SELECT 1").fetchone() == (1,))
        except sqlite3.Error:
            return False

    @staticmethod
    async def _drop(conn: AsyncConnection, *, invalidate: bool) -> None:
        with suppress(Exception):  # a broken connection may fail to close; it is dropped anyway
            if invalidate:
                await conn.invalidate()
            await conn.close()

    async def health(self) -> dict[str, Any]:
        """A health report for ``/health``: ``{"status": "ok"|"unavailable", "dialect": ...}``
        (from a check that started after the call: on SQLite usually run inline, see
        :meth:`_probe_inline`; otherwise concurrent calls share it)."""
        if self._probe_inline():
            return {"status": "ok", "dialect": self.dialect}
        return dict(await self._health())

    async def _health_report(self) -> dict[str, Any]:
        try:
            await self._probe_check()
        except UnavailableError as exc:
            return {"status": "unavailable", "dialect": self.dialect, "detail": exc.message}
        return {"status": "ok", "dialect": self.dialect}

    def unavailable(self, exc: BaseException) -> UnavailableError:
        """Wrap a driver/connection failure without leaking credentials."""
        reason = type(exc.__cause__ or exc).__name__
        log.warning("database %s unreachable: %s", self.safe_url, reason)
        return UnavailableError(
            f"database is unavailable ({self.dialect}: {reason}); retry later",
            details={"database": self.safe_url},
        )

    async def dispose(self) -> None:
        kept, self._probe_conn = self._probe_conn, None
        if kept is not None:
            await self._drop(kept[1], invalidate=False)
        await self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.safe_url!r})"
