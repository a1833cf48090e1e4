"""`SharedCheck`: concurrent callers of one probe share its runs, and every answer is fresh.

``GET /health`` asks the database ``SELECT 1`` - a pool checkout and, on SQLite, a thread hop
or three - and load balancers and monitors ask often, many at once. Instead of one probe per
request, callers that arrive while a probe is running wait for the *next* one, which starts as
soon as the running one ends and answers all of them. No answer is older than its request (the
probe it reports started after the request arrived), so a database that goes down is reported
by the very next request, while a burst of N requests costs two probes instead of N.

    check = SharedCheck(probe)          # probe: an async function with no arguments
    report = await check()              # concurrent callers share the probe's result
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SharedCheck"]

T = TypeVar("T")


class SharedCheck(Generic[T]):
    """See the module docstring. One per probe; safe across event loops (tests run several)."""

    def __init__(self, probe: Callable[[], Awaitable[T]]) -> None:
        self._probe = probe
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: asyncio.Future[T] | None = None  # callers of the next probe
        self._driver: asyncio.Task[None] | None = None

    async def __call__(self) -> T:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop: nothing of the old one is usable
            self._loop, self._waiting, self._driver = loop, None, None
        if self._waiting is None:
            self._waiting = loop.create_future()
        waiting = self._waiting
        if self._driver is None or self._driver.done():
            self._driver = loop.create_task(self._drive())
        # Shielded: one caller giving up (a client that hangs up) must not cancel the others'.
        return await asyncio.shield(waiting)

    async def _drive(self) -> None:
        """Run probes back to back while callers wait for one that started after them."""
        while self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            try:
                result = await self._probe()
            except asyncio.CancelledError:
                waiting.cancel()  # the loop is closing: its callers go with it
                raise
            except Exception as exc:
                if not waiting.done():
                    waiting.set_exception(exc)
                continue
            if not waiting.done():
                waiting.set_result(result)
