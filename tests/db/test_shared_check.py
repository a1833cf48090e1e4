"""`SharedCheck`: concurrent callers share probes, and no answer predates its request."""

from __future__ import annotations

import asyncio

import pytest

from snapagent.db.shared_check import SharedCheck


class Probe:
    """Counts its runs; each run blocks until the test releases it and answers its number."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self) -> int:
        self.runs += 1
        number = self.runs
        await self.release.wait()
        self.release.clear()
        if self.fail is not None:
            raise self.fail
        return number


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_burst_shares_one_probe() -> None:
    probe = Probe()
    check = SharedCheck(probe)
    callers = [asyncio.create_task(check()) for _ in range(20)]
    await _settle()
    probe.release.set()
    assert await asyncio.gather(*callers) == [1] * 20
    assert probe.runs == 1


async def test_callers_arriving_during_a_probe_wait_for_the_next_one() -> None:
    probe = Probe()
    check = SharedCheck(probe)
    early = asyncio.create_task(check())
    await _settle()
    assert probe.runs == 1
    late = [asyncio.create_task(check()) for _ in range(5)]  # the running probe is too old
    await _settle()
    probe.release.set()
    assert await early == 1
    await _settle()
    assert probe.runs == 2  # started right after the first, for everyone who came meanwhile
    probe.release.set()
    assert await asyncio.gather(*late) == [2] * 5
    assert probe.runs == 2


async def test_a_failed_probe_fails_its_callers_only() -> None:
    probe = Probe()
    check = SharedCheck(probe)
    probe.fail = RuntimeError("database down")
    failing = asyncio.create_task(check())
    await _settle()
    probe.release.set()
    with pytest.raises(RuntimeError, match="database down"):
        await failing
    probe.fail = None
    next_call = asyncio.create_task(check())
    await _settle()
    probe.release.set()
    assert await next_call == 2


async def test_a_caller_that_gives_up_does_not_cancel_the_others() -> None:
    probe = Probe()
    check = SharedCheck(probe)
    quitter = asyncio.create_task(check())
    stayer = asyncio.create_task(check())
    await _settle()
    quitter.cancel()
    await _settle()
    probe.release.set()
    assert await stayer == 1
    assert quitter.cancelled()
