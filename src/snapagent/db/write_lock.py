"""`FileWriteLock`: SQLite's write turn handed between processes by the kernel, not by naps.

SQLite admits one writer per database file. A writer of another process (``serve --workers 2``)
that finds the lock taken sleeps in SQLite's busy handler - 1, 2, 5, 10 ... 100 ms naps, however
soon the lock is released - so two workers' group commits kept waking late for each other.
Here each process takes an exclusive ``flock`` on ``<database>.write-lock`` around its write
transactions (inside `Database.writing()`, after the in-process queue): a waiter is woken the
moment the holder releases it, and SQLite's own lock is then free. Uncontended, taking it is one
non-blocking system call on the event loop; contended, the wait runs on a worker thread.

Writers that do not take it (another program on the file) still meet SQLite's busy handler, as
before. Not available on Windows (no ``fcntl``): the lock is then skipped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from snapagent.private_files import create_private_file

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileWriteLock"]


class FileWriteLock:
    """An exclusive advisory lock on one file, one holder per process at a time (the caller
    serializes its own tasks: `Database.writing()` holds an asyncio lock around it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        # Opened per process: a descriptor inherited across fork would share its lock.
        if self._fd is None or self._pid != os.getpid():
            create_private_file(self.path)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            self._pid = os.getpid()
        return self._fd

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        if fcntl is None:
            yield
            return
        fd = self._descriptor()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            await self._wait(fd)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    async def _wait(fd: int) -> None:
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)

        def give_back(taken: asyncio.Future[None]) -> None:
            if not taken.cancelled() and taken.exception() is None:
                fcntl.flock(fd, fcntl.LOCK_UN)

        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            waiting.add_done_callback(give_back)  # the thread still takes it: give it back
            raise

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None
