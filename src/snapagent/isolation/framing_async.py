"""The frames of `snapagent.isolation.framing`, read and written on the running event loop.

Wrap calls in ``asyncio.timeout`` for a deadline; a cancelled read may leave a partial frame
behind, so callers treat the worker as lost after one.
"""

from __future__ import annotations

import asyncio
import os

from snapagent.isolation.framing import HEADER, FrameTooLargeError

__all__ = ["read_frame_async", "wait_readable", "write_frame_async"]


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


async def wait_readable(fd: int) -> None:
    """Return once ``fd`` has data (or EOF) to read."""
    await _until(fd, writable=False)


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
