"""Length-prefixed frames over pipes: an 8-byte big-endian length, then the payload.

The parent's side is non-blocking and bounded: reads and writes take a deadline
(`time.monotonic()` seconds; `snapagent.isolation.framing_async` has the event-loop versions),
and a read refuses a frame longer than its limit before reading the payload, so a worker cannot
make the parent wait forever or allocate without bound. The worker's side blocks (it has
nothing else to do). This module imports nothing heavy: workers and zygotes load it.
"""

from __future__ import annotations

import os
import select
import struct
import time

__all__ = [
    "HEADER",
    "FrameTooLargeError",
    "read_exact",
    "read_frame",
    "write_all",
    "write_frame",
]

HEADER = struct.Struct("!Q")


class FrameTooLargeError(Exception):
    """The peer announced a frame longer than the reader accepts; ``size`` is what it said."""

    def __init__(self, size: int) -> None:
        super().__init__(f"frame of {size} bytes is over the limit")
        self.size = size


def _wait(fd: int, event: int, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    poller = select.poll()
    poller.register(fd, event)
    # Whatever poll reports (ready, hang-up, error), the following read/write tells which.
    if not poller.poll(max(1, int(remaining * 1000 + 1))) and time.monotonic() >= deadline:
        raise TimeoutError


def _read_some(fd: int, count: int, deadline: float) -> bytes:
    while True:
        try:
            chunk = os.read(fd, count)
        except BlockingIOError:
            _wait(fd, select.POLLIN, deadline)
            continue
        if not chunk:
            raise EOFError
        return chunk


def _read_bounded(fd: int, size: int, deadline: float) -> bytes:
    if size == 0:
        return b""
    first = _read_some(fd, size, deadline)
    if len(first) == size:
        return first
    buffer = bytearray(first)
    while len(buffer) < size:
        buffer += _read_some(fd, size - len(buffer), deadline)
    return bytes(buffer)


def read_frame(fd: int, limit: int, deadline: float) -> bytes:
    """One frame from a non-blocking ``fd``. Raises `TimeoutError` past ``deadline``,
    `EOFError` when the writer is gone, `FrameTooLargeError` when it announces > ``limit``."""
    (size,) = HEADER.unpack(_read_bounded(fd, HEADER.size, deadline))
    if size > limit:
        raise FrameTooLargeError(size)
    return _read_bounded(fd, size, deadline)


def write_frame(fd: int, payload: bytes, deadline: float) -> None:
    """Write one frame to a non-blocking ``fd`` (`TimeoutError` past ``deadline``,
    `BrokenPipeError` when the reader is gone)."""
    view = memoryview(HEADER.pack(len(payload)) + payload)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            _wait(fd, select.POLLOUT, deadline)
            continue
        view = view[written:]


def read_exact(fd: int, size: int) -> bytes:
    """Blocking read of exactly ``size`` bytes (`EOFError` if the writer is gone first)."""
    buffer = bytearray()
    while len(buffer) < size:
        chunk = os.read(fd, size - len(buffer))
        if not chunk:
            raise EOFError
        buffer += chunk
    return bytes(buffer)


def write_all(fd: int, data: bytes) -> None:
    """Blocking write of all of ``data``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
