"""`LazySession`: a request's database session, made on its first use.

Every authenticated route gets a session (authentication may read the API key, the route its
rows), but a chat turn whose credential and bot the lookup caches hold never uses it - and
making an ``AsyncSession`` and closing it cost ~25-45 us of the event loop per request (4-5%
of a recorded chat's loop samples under py-spy). This stands in for the session: the first
attribute read makes the real one (``Database.sessionmaker``) and forwards to it from then on;
a session never used is never made, so there is nothing to roll back or close.

    async with lazy_session(db) as session:   # what the `DbSession` dependency yields
        await session.execute(...)            # the real AsyncSession is made here
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.session import Database

__all__ = ["LazySession", "lazy_session"]


class LazySession:
    """Forwards every attribute to an ``AsyncSession`` made when first needed."""

    __slots__ = ("_make", "_session")

    def __init__(self, make: Callable[[], AsyncSession]) -> None:
        self._make = make
        self._session: AsyncSession | None = None

    @property
    def made(self) -> bool:
        return self._session is not None

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class does not define: the session's own.
        session = self._session
        if session is None:
            session = self._session = self._make()
        return getattr(session, name)

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@asynccontextmanager
async def lazy_session(db: Database) -> AsyncIterator[AsyncSession]:
    """`Database.session` made lazily: rolled back on error and closed - if it was made."""
    session = LazySession(db.sessionmaker)
    try:
        yield cast(AsyncSession, session)
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()
