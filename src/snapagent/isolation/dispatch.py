"""`SlotPool`: lend a fixed number of worker slots to callers on any event loop or thread.

A call leases a slot whose worker is ready, talks to the worker with non-blocking pipe I/O on
the caller's own event loop (no thread hand-off: a warm call costs two process wake-ups), and
returns the slot. When every slot is busy, callers wait in arrival order on a
`concurrent.futures.Future`, which whichever thread or loop returns a slot completes, so the
pool is not tied to one loop (tests make a loop per test; the CLI and the server have theirs).
Idle slots are lent most-recently-used first, so a lightly used pool keeps one warm worker busy.

Workers are started (and, after a kill, replaced at once) on short-lived helper threads, never
on the loop: a slot is lendable only once its worker answered its handshake. A plain thread
calls `run_blocking`, which drives the same coroutine on a short-lived loop of its own.

Subclasses say how to start a worker (blocking, on a helper thread), how to run one payload
on it (a coroutine on the caller's loop; it sets ``slot.worker = None`` after killing the
worker) and how to kill and reap one.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import threading
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from snapagent.isolation.errors import PoolClosedError

__all__ = ["Slot", "SlotPool"]

W = TypeVar("W")


class Slot(Generic[W]):
    """One place for a worker: None until started, and again after it was killed."""

    __slots__ = ("index", "worker")

    def __init__(self, index: int) -> None:
        self.index = index
        self.worker: W | None = None


class SlotPool(ABC, Generic[W]):
    """The lending half of a pool; see the module docstring."""

    def __init__(self, *, name: str, size: int) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one slot")
        self.name = name
        self.size = size
        self._lock = threading.Lock()
        self._slot_count = 0
        self._ready: list[Slot[W]] = []
        self._busy: set[Slot[W]] = set()
        self._waiters: collections.deque[concurrent.futures.Future[Slot[W]]] = collections.deque()
        self._closed = False

    # -- what a concrete pool provides --------------------------------------------------------

    @abstractmethod
    def _start_worker(self) -> W:
        """Start a worker and wait until it is ready; runs on a helper thread."""

    @abstractmethod
    async def _execute(self, slot: Slot[W], payload: Any, timeout_s: float) -> Any:
        """Run one payload on ``slot.worker``; set ``slot.worker = None`` after killing it."""

    @abstractmethod
    def _kill_worker(self, worker: W) -> None:
        """Make a worker die now; safe from any thread, idempotent, closes nothing."""

    @abstractmethod
    def _discard_worker(self, worker: W) -> int:
        """Kill, reap and close a worker; return its exit code (blocking)."""

    # -- running ------------------------------------------------------------------------------

    async def run(self, payload: Any, timeout_s: float) -> Any:
        """Lease a slot, run ``payload`` with a ``timeout_s`` deadline, return the slot."""
        if not timeout_s > 0:
            raise ValueError("timeout_s must be positive")
        slot = await self._acquire()
        try:
            return await self._execute(slot, payload, timeout_s)
        finally:
            self._release(slot)

    def run_blocking(self, payload: Any, timeout_s: float) -> Any:
        """`run` for a plain thread (never on an event loop's thread: that would block it)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("run_blocking() would block the event loop; await run()")
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(self.run(payload, timeout_s))
        finally:
            loop.close()

    @property
    def busy(self) -> int:
        """How many slots are lent out right now."""
        return len(self._busy)

    # -- lending ------------------------------------------------------------------------------

    async def _acquire(self) -> Slot[W]:
        with self._lock:
            if self._closed:
                raise PoolClosedError(f"pool {self.name!r} is closed", pool=self.name)
            if self._ready:
                slot = self._ready.pop()
                self._busy.add(slot)
                return slot
            waiter: concurrent.futures.Future[Slot[W]] = concurrent.futures.Future()
            self._waiters.append(waiter)
            if self._slot_count < self.size:
                self._slot_count += 1
                self._start_soon(Slot(self._slot_count - 1))
        try:
            return await asyncio.wrap_future(waiter)
        except asyncio.CancelledError:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())  # handed over just as we gave up
            raise

    def _release(self, slot: Slot[W]) -> None:
        if slot.worker is None:
            with self._lock:
                self._busy.discard(slot)
                closed = self._closed
            if not closed:
                self._start_soon(slot)
            return
        with self._lock:
            self._busy.discard(slot)
            if not self._closed:
                while self._waiters:
                    waiter = self._waiters.popleft()
                    try:
                        waiter.set_result(slot)
                    except concurrent.futures.InvalidStateError:
                        continue  # that caller gave up
                    self._busy.add(slot)
                    return
                self._ready.append(slot)
                return
        self._discard_soon(slot)

    def _start_soon(self, slot: Slot[W]) -> None:
        threading.Thread(
            target=self._start_slot, args=(slot,), name=f"{self.name}-start", daemon=True
        ).start()

    def _start_slot(self, slot: Slot[W]) -> None:
        try:
            slot.worker = self._start_worker()
        except BaseException as exc:
            # Give the reason to everyone waiting: with no worker they would wait forever.
            with self._lock:
                self._slot_count -= 1
                waiters, self._waiters = list(self._waiters), collections.deque()
            for waiter in waiters:
                with contextlib.suppress(concurrent.futures.InvalidStateError):
                    waiter.set_exception(exc)
            return
        self._release(slot)

    def _discard_soon(self, slot: Slot[W]) -> None:
        worker, slot.worker = slot.worker, None
        if worker is not None:
            threading.Thread(target=self._discard_worker, args=(worker,), daemon=True).start()

    # -- closing ------------------------------------------------------------------------------

    def _close_now(self) -> None:
        with self._lock:
            self._closed = True
            waiters, self._waiters = list(self._waiters), collections.deque()
            ready, self._ready = self._ready, []
            busy = list(self._busy)
        for waiter in waiters:
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                waiter.set_exception(PoolClosedError(f"pool {self.name!r} was closed"))
        for slot in ready:
            if slot.worker is not None:
                self._discard_worker(slot.worker)
                slot.worker = None
        for slot in busy:  # their callers see the worker die and return the slot
            if slot.worker is not None:
                self._kill_worker(slot.worker)

    def close_blocking(self) -> None:
        """Kill every worker; calls still running fail with `PoolClosedError`."""
        self._close_now()

    async def close(self) -> None:
        """`close_blocking` without blocking the loop while workers are reaped."""
        await asyncio.to_thread(self._close_now)
