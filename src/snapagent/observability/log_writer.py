"""Log lines leave the event loop without waiting for stdout.

A server's stdout is a pipe or a file that someone else drains (a container runtime, systemd,
a terminal). When that reader falls behind, ``write`` blocks - and on the event loop thread a
blocked write stops every request. So the server's log handler only appends each formatted line
to a bounded buffer in memory; one writer thread takes everything buffered so far and writes it
in one call (under load, many requests' lines per write and per thread wake-up).

When the buffer is full (``SNAPAGENT_LOG_BUFFER_LINES`` lines waiting, default 10,000), a new
line is dropped - never waited for - and counted; as soon as the writer has caught up it writes
one warning saying how many lines were lost. A stuck stdout therefore costs log lines, never
request latency, and the buffer's memory stays bounded. ``flush()`` (called by
``logging.shutdown`` at exit) waits up to `FLUSH_TIMEOUT_S` for the buffer to drain, and so
does each of uvicorn's start-up and shut-down lines (a few per process life): after a SIGTERM
uvicorn re-raises the signal and the process ends without exit handlers.

    handler = BufferedStdoutHandler(capacity=10_000)
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

__all__ = ["FLUSH_TIMEOUT_S", "BufferedStdoutHandler", "LineBuffer"]

FLUSH_TIMEOUT_S = 2.0
"""How long a flush (process exit) waits for buffered lines to reach stdout."""


_LINGER_S = 0.02
"""After writing, the writer collects lines this long before it waits to be woken again: a
busy server (one line every few ms) wakes it rarely, and a line reaches stdout within ~20 ms."""


class LineBuffer:
    """A bounded queue of text drained by one writer thread; see the module docstring.

    ``write`` receives several lines joined (each ends with a newline); ``dropped_notice``
    turns a count of dropped lines into the line reporting it.
    """

    def __init__(
        self,
        capacity: int,
        write: Callable[[str], None],
        dropped_notice: Callable[[int], str],
    ) -> None:
        if capacity < 1:
            raise ValueError("a line buffer holds at least one line")
        self.capacity = capacity
        self._write = write
        self._dropped_notice = dropped_notice
        self._lines: deque[str] = deque()
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._wake = threading.Event()
        self._awake = False  # the writer is draining: no need to wake it
        self._writing = False  # lines taken from the queue are being written
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # A forked child has no writer thread: it starts its own on its first line.
        forget = weakref.WeakMethod(self._forget_thread)
        os.register_at_fork(after_in_child=lambda: _call_if_alive(forget))

    def put(self, line: str) -> None:
        """Queue ``line`` (ending with a newline), or drop and count it when the buffer is full."""
        if len(self._lines) >= self.capacity:
            with self._dropped_lock:
                self._dropped += 1
            return
        self._lines.append(line)
        if not self._awake:
            self._awake = True
            if self._thread is None:
                self._start()
            self._wake.set()

    def pending(self) -> int:
        """Lines waiting for the writer."""
        return len(self._lines)

    def flush(self, timeout_s: float = FLUSH_TIMEOUT_S) -> bool:
        """Wait until every queued line was written (or ``timeout_s``); True if drained."""
        deadline = time.monotonic() + timeout_s
        while self._lines or self._writing:
            if self._thread is None or not self._thread.is_alive():
                return not self._lines
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _forget_thread(self) -> None:
        self._thread = None
        self._awake = False
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._dropped_lock = threading.Lock()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(
                    target=self._run, name="snapagent-log-writer", daemon=True
                )
                thread.start()
                self._thread = thread

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            while True:
                self._drain()
                # Lines logged meanwhile are written together, without a wake-up each (a
                # wake-up is a futex call and a GIL hand-off for the logging thread).
                time.sleep(_LINGER_S)
                if not self._lines:
                    break
            self._awake = False
            # A line queued after the last drain may have seen the writer still awake and
            # not woken it: look once more before sleeping.
            if self._lines:
                self._awake = True
                self._wake.set()

    def _drain(self) -> None:
        while self._lines:
            self._writing = True  # before the queue empties: flush() must keep waiting
            try:
                count = len(self._lines)
                text = "".join([self._lines.popleft() for _ in range(count)])
                with self._dropped_lock:
                    dropped, self._dropped = self._dropped, 0
                if dropped:
                    text += self._dropped_notice(dropped)
                self._write(text)
            except Exception:  # a closed or broken stdout must not kill the writer
                continue
            finally:
                self._writing = False


_LIFECYCLE_LOGGER = "uvicorn.error"
"""uvicorn's own logger: INFO lines are its start-up and shut-down steps (errors are ERROR)."""


class BufferedStdoutHandler(logging.Handler):
    """A logging handler that formats on the caller's thread and writes through a `LineBuffer`
    to whatever ``sys.stdout`` is when the writer writes."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.buffer = LineBuffer(capacity, _write_stdout, self._dropped_notice)

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: formatting is per record and the buffer is thread-safe.
        if not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.buffer.put(line + "\n")
        if record.name == _LIFECYCLE_LOGGER and record.levelno < logging.WARNING:
            # uvicorn's start-up and shut-down lines: after a SIGTERM uvicorn re-raises the
            # signal once it has shut down, and the process dies without running exit
            # handlers - so these rare lines (and everything before them) are written now.
            self.buffer.flush()

    def flush(self) -> None:
        self.buffer.flush()

    def _dropped_notice(self, count: int) -> str:
        record = logging.LogRecord(
            "snapagent.logging",
            logging.WARNING,
            __file__,
            0,
            "%d log lines dropped: stdout did not keep up (SNAPAGENT_LOG_BUFFER_LINES)",
            (count,),
            None,
        )
        record.dropped_lines = count
        return self.format(record) + "\n"


def _call_if_alive(method: weakref.WeakMethod[Callable[[], None]]) -> None:
    bound = method()
    if bound is not None:
        bound()


def _write_stdout(text: str) -> None:
    out = sys.stdout
    out.write(text)
    out.flush()
