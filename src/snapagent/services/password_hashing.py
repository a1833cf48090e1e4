"""Password hashing off the event loop, with a hard bound on how many hashes run at once.

An argon2id hash holds its memory cost (64 MiB by default) for as long as it runs, and every
login, registration and password change computes one - so unbounded, a flood of logins is a
flood of 64 MiB allocations. :class:`HashingGate` runs them on a thread pool of its own with
``concurrency`` threads: at most that many hashes exist at any moment, whatever happens to the
requests that asked for them (a client that disconnects does not free its slot before its hash
is done). Up to ``max_waiting`` more requests wait up to ``wait_s`` for a slot; the rest, and
those that waited too long, get :class:`~snapagent.errors.RateLimitedError` (429 with
``Retry-After``) at once. The threads run at a lower CPU priority (``nice`` +10 on Linux): when
hashing and the event loop compete for a core, the loop - every other request, ``/health``
included - wins.

    gate = HashingGate(concurrency=2, max_waiting=16, wait_s=3.0)
    digest = await gate.run(hasher.hash, "correct horse")
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from snapagent.errors import RateLimitedError

__all__ = ["HashingBusyError", "HashingGate"]

T = TypeVar("T")


HASHING_NICENESS = 10


def _yield_cpu() -> None:
    """Lower this (hashing) thread's CPU priority; Linux applies nice values per thread."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + HASHING_NICENESS
        )


class HashingBusyError(RateLimitedError):
    """Every hashing slot is taken and the queue is full (or the wait ran out)."""


class HashingGate:
    """See the module docstring. One per app, used from the app's event loop."""

    def __init__(self, *, concurrency: int, max_waiting: int, wait_s: float) -> None:
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.wait_s = wait_s
        self._executor = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="password-hash", initializer=_yield_cpu
        )
        self._slots = asyncio.Semaphore(concurrency)
        self._waiting = 0
        self.running = 0
        """Hashes started and not finished (their threads hold the memory)."""

    def _busy(self, why: str) -> HashingBusyError:
        retry_after = max(1, math.ceil(self.wait_s))
        return HashingBusyError(
            f"the server is checking too many passwords at once ({why}); "
            f"retry after {retry_after} s",
            retry_after=retry_after,
        )

    def refuse_if_full(self) -> None:
        """Raise :class:`HashingBusyError` now if a hash asked for now could not even queue:
        callers check this before their database work, so a flood is refused cheaply."""
        if self._slots.locked() and self._waiting >= self.max_waiting:
            raise self._busy("the queue is full")

    async def _take_slot(self) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            return
        self.refuse_if_full()
        self._waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self._slots.acquire()
        except TimeoutError:
            raise self._busy(f"no slot within {self.wait_s:g} s") from None
        finally:
            self._waiting -= 1

    def _finished(self) -> None:
        self.running -= 1
        self._slots.release()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the gate's threads; raises :class:`HashingBusyError` when full."""
        await self._take_slot()
        loop = asyncio.get_running_loop()

        def release(_: Future[T]) -> None:
            # On the worker thread, when the hash is done - not when the request goes away.
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._finished)

        self.running += 1
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._finished()
            raise
        future.add_done_callback(release)
        return await asyncio.wrap_future(future)
