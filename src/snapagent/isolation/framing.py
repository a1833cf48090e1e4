"""Length-prefixed frames over pipes: an 8-byte big-endian length, then the payload.

The parent's side is non-blocking and bounded: reads and writes either take a deadline
(`time.monotonic()` seconds, for threads) or run on the event loop (``*_async``, bounded by the
caller's ``asyncio.timeout``), and a read refuses a frame longer than its limit before reading
the payload, so a worker cannot make the parent wait forever or allocate without bound. The
worker's side blocks (it has nothing else to do).
"""

from __future__ import annotations

import asyncio
import os
import select
import struct
import time

__all__ = [
    "HEADER",
    "FrameTooLargeError",
    "read_exact",
    "read_frame",
    "read_frame_async",
    "write_all",
    "write_frame",
    "write_frame_async",
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


async def _until(fd: int, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writable:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _read_exact_async(fd: int, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        try:
            chunk = os.read(fd, size - len(buffer))
        except BlockingIOError:
            await _until(fd, writable=False)
            continue
        if not chunk:
            raise EOFError
        buffer += chunk
    return bytes(buffer)


async def read_frame_async(fd: int, limit: int) -> bytes:
    """`read_frame` on the running event loop (wrap it in ``asyncio.timeout`` for a deadline)."""
    (size,) = HEADER.unpack(await _read_exact_async(fd, HEADER.size))
    if size > limit:
        raise FrameTooLargeError(size)
    return await _read_exact_async(fd, size)


async def write_frame_async(fd: int, payload: bytes) -> None:
    """`write_frame` on the running event loop."""
    view = memoryview(HEADER.pack(len(payload)) + payload)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await _until(fd, writable=True)
            continue
        view = view[written:]
