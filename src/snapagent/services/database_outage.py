"""Which failures mean "the database cannot be reached right now" (answer 503, retry later).

When PostgreSQL stops, restarts or fails over, the driver fails in several shapes: a refused
TCP connection (a bare ``ConnectionRefusedError`` from asyncpg, which SQLAlchemy does not wrap),
a connection cut in the middle of a query (``InterfaceError``, SQLSTATE class 08), or the server
saying it is shutting down or still starting (SQLSTATE 57P01-57P03); or every pooled
connection stayed busy past ``SNAPAGENT_DATABASE_POOL_TIMEOUT_S`` (SQLAlchemy's pool
``TimeoutError``). The HTTP layer answers all of them as 503 problem+json and the chat stream
ends with a 503 ``error`` event - never a 500. Once the database is back, the engine's pool
reconnects on its own (`Database` refuses connections the server closed at checkout).

    if is_database_unreachable(exc):
        return problem_response(503, "the database is unavailable; retry later", slug="unavailable")
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from snapagent.errors import UnavailableError

__all__ = ["is_database_unreachable"]

# admin_shutdown, crash_shutdown, cannot_connect_now (PostgreSQL's "operator intervention").
_SHUTTING_DOWN = frozenset({"57P01", "57P02", "57P03"})


def is_database_unreachable(exc: BaseException) -> bool:
    """True when ``exc`` says the database is down or unreachable, not that a query was wrong."""
    if isinstance(
        exc,
        UnavailableError | ConnectionError | OperationalError | InterfaceError | PoolTimeoutError,
    ):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return state.startswith("08") or state in _SHUTTING_DOWN
    return False
