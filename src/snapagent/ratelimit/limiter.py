"""A fixed-window request counter in the database, shared by every server process.

Each request costs one statement: an upsert that either adds one to the caller's row (same
window) or restarts it at 1 (a newer window), returning the count. Processes therefore agree on
the count without talking to each other. Old rows are swept at most once per window per process.

    limiter = DatabaseRateLimiter(database, window_seconds=60)
    decision = await limiter.hit("chat:user:ab12", limit=30)
    if not decision.allowed:
        raise RateLimitedError("slow down", retry_after=decision.retry_after)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, case, delete
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
        self._swept_window = -1

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
        now = self.clock()
        window = int(now // self.window_seconds) * self.window_seconds
        # A Core connection, not an ORM session: nothing to track, one round trip fewer.
        async with self.database.engine.begin() as connection:
            hits, window_start = (await connection.execute(self._upsert(key, window))).one()
            if window != self._swept_window:
                self._swept_window = window
                # Rows of callers gone quiet; bounded work, once per window per process.
                await connection.execute(
                    delete(_table).where(_table.c.window_start < window - self.window_seconds)
                )
        reset_at = int(window_start) + self.window_seconds
        retry_after = max(1.0, math.ceil(reset_at - now))
        return RateDecision(
            allowed=int(hits) <= limit, hits=int(hits), limit=limit, retry_after=retry_after
        )
