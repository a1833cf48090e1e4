"""`HashingGate`: at most `concurrency` hashes exist at once, whatever the callers do."""

from __future__ import annotations

import asyncio
import threading

import pytest

from snapagent.services.password_hashing import HashingBusyError, HashingGate


def blocking(release: threading.Event, started: list[int], live: list[int]) -> int:
    live.append(1)
    started.append(len(live))
    try:
        release.wait(5)
        return 42
    finally:
        live.pop()


async def test_slots_queue_and_refusals() -> None:
    gate = HashingGate(concurrency=2, max_waiting=1, wait_s=5)
    release, started, live = threading.Event(), [], []
    running = [asyncio.create_task(gate.run(blocking, release, started, live)) for _ in range(2)]
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(gate.run(blocking, release, started, live))
    await asyncio.sleep(0.05)
    with pytest.raises(HashingBusyError, match="queue is full") as refused:
        await gate.run(blocking, release, started, live)
    assert refused.value.retry_after >= 1
    assert gate.running == 2
    release.set()
    assert await asyncio.gather(*running, queued) == [42, 42, 42]
    assert max(started) <= 2
    assert gate.running == 0


async def test_waiting_too_long_is_refused() -> None:
    gate = HashingGate(concurrency=1, max_waiting=5, wait_s=0.1)
    release, started, live = threading.Event(), [], []
    first = asyncio.create_task(gate.run(blocking, release, started, live))
    await asyncio.sleep(0.02)
    with pytest.raises(HashingBusyError, match=r"no slot within 0\.1 s"):
        await gate.run(blocking, release, started, live)
    release.set()
    assert await first == 42


async def test_a_cancelled_caller_keeps_its_slot_until_its_hash_is_done() -> None:
    """A client that disconnects mid-hash must not let another hash start beside it."""
    gate = HashingGate(concurrency=1, max_waiting=0, wait_s=1)
    release, started, live = threading.Event(), [], []
    caller = asyncio.create_task(gate.run(blocking, release, started, live))
    await asyncio.sleep(0.05)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert gate.running == 1  # the thread still hashes, so the slot stays taken
    with pytest.raises(HashingBusyError):
        await gate.run(blocking, release, started, live)
    release.set()
    for _ in range(100):
        if gate.running == 0:
            break
        await asyncio.sleep(0.01)
    assert gate.running == 0
    assert await gate.run(lambda: "free again") == "free again"
