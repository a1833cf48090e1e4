"""A fixed-window request counter in the database, shared by every server process.

Each request costs one statement: an upsert that either adds one to the caller's row (same
window) or restarts it at 1 (a newer window), returning the count. Processes therefore agree on
the count without talking to each other. Old rows are swept at most once per window per process.
Limiters of different window lengths share the table: each stores its keys under a prefix of its
window length (``60s:chat:user:ab12``) and sweeps only those, so a one-minute limiter never
deletes the rows of a fifteen-minute one.

    limiter = DatabaseRateLimiter(database, window_seconds=60)
    decision = await limiter.hit("chat:user:ab12", limit=30)
    if not decision.allowed:
        raise RateLimitedError("slow down", retry_after=decision.retry_after)
    await limiter.forgive("chat:user:ab12")     # take one count back (it did not count after all)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, case, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from snapagent.db.models.rate_limits import RateLimitCounter
from snapagent.db.session import Database

__all__ = ["DatabaseRateLimiter", "RateDecision"]

_table = cast(Table, RateLimitCounter.__table__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one counted request."""

    allowed: bool
    hits: int
    limit: int
    retry_after: float
    """Seconds until the window resets (meaningful when not allowed)."""


class DatabaseRateLimiter:
    """See the module docstring; ``clock`` (epoch seconds) is replaceable for tests."""

    def __init__(
        self,
        database: Database,
        *,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.window_seconds = window_seconds
        self.clock = clock
        self._prefix = f"{window_seconds}s:"
        self._swept_window = -1
        # SQLite has one writer at a time: writers of this process take turns here instead of
        # holding pooled connections while SQLite's busy handler sleeps them in turn (a burst
        # of logins would otherwise take every connection, /health's included).
        self._sqlite_writer = asyncio.Lock() if database.is_sqlite else None

    def _writing(self) -> AbstractAsyncContextManager[object]:
        return self._sqlite_writer or contextlib.nullcontext()

    def _window(self, now: float) -> int:
        return int(now // self.window_seconds) * self.window_seconds

    def _upsert(self, key: str, window: int) -> Any:
        insert = postgresql.insert if self.database.is_postgres else sqlite.insert
        stmt = insert(_table).values(key=key, window_start=window, hits=1)
        current = _table.c.window_start >= stmt.excluded.window_start
        # Same window (or a replica whose clock runs a little ahead): count; newer: restart.
        return stmt.on_conflict_do_update(
            index_elements=[_table.c.key],
            set_={
                "hits": case((current, _table.c.hits + 1), else_=1),
                "window_start": case(
                    (current, _table.c.window_start), else_=stmt.excluded.window_start
                ),
            },
        ).returning(_table.c.hits, _table.c.window_start)

    async def hit(self, key: str, limit: int) -> RateDecision:
        """Count one request of ``key`` against ``limit`` per window."""
        (decision,) = await self.hit_all([(key, limit)])
        return decision

    async def hit_all(self, limits: Sequence[tuple[str, int]]) -> list[RateDecision]:
        """Count one request against each ``(key, limit)``, in one transaction."""
        now = self.clock()
        window = self._window(now)
        counted: list[tuple[int, int, int]] = []
        # A Core connection, not an ORM session: nothing to track, one round trip fewer.
        async with self._writing(), self.database.engine.begin() as connection:
            for key, limit in limits:
                upsert = self._upsert(self._prefix + key, window)
                hits, window_start = (await connection.execute(upsert)).one()
                counted.append((int(hits), int(window_start), limit))
            if window != self._swept_window:
                self._swept_window = window
                # Rows of callers gone quiet; bounded work, once per window per process.
                await connection.execute(
                    delete(_table).where(
                        _table.c.key.startswith(self._prefix, autoescape=True),
                        _table.c.window_start < window - self.window_seconds,
                    )
                )
        return [
            RateDecision(
                allowed=hits <= limit,
                hits=hits,
                limit=limit,
                retry_after=max(1.0, math.ceil(window_start + self.window_seconds - now)),
            )
            for hits, window_start, limit in counted
        ]

    async def forgive(self, *keys: str) -> None:
        """Take back one count of each key in the current window (never below zero)."""
        window = self._window(self.clock())
        async with self._writing(), self.database.engine.begin() as connection:
            await connection.execute(
                update(_table)
                .where(
                    _table.c.key.in_([self._prefix + key for key in keys]),
                    _table.c.window_start == window,
                    _table.c.hits > 0,
                )
                .values(hits=_table.c.hits - 1)
            )
