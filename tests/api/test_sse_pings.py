"""`with_pings`: events forwarded one at a time (never read ahead), pings while one is slow,
errors passed on, and closing cancels the pending event and closes the source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from snapagent.api.sse import PING, with_pings


async def test_pings_while_an_event_is_slow_and_nothing_is_read_ahead() -> None:
    produced: list[int] = []

    async def slow() -> AsyncIterator[int]:
        for n in range(3):
            produced.append(n)
            await asyncio.sleep(0.2)
            yield n

    seen: list[tuple[object, list[int]]] = []
    async for item in with_pings(slow(), interval_s=0.05):
        seen.append((item, list(produced)))
    events = [(item, started) for item, started in seen if item != PING]
    # When event n is handed over, event n+1 has not been started.
    assert events == [(0, [0]), (1, [0, 1]), (2, [0, 1, 2])]
    assert sum(1 for item, _ in seen if item == PING) >= 3  # pings did not cancel the waits


async def test_an_error_of_the_source_reaches_the_consumer() -> None:
    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ValueError("model failed")

    paced = with_pings(failing(), interval_s=1)
    assert await anext(paced) == 1
    with pytest.raises(ValueError, match="model failed"):
        await anext(paced)


async def test_closing_cancels_the_pending_event_and_closes_the_source() -> None:
    cleaned: list[str] = []

    async def endless() -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.sleep(60)
            yield 2
        except asyncio.CancelledError:
            cleaned.append("cancelled")
            raise
        finally:
            cleaned.append("closed")

    paced = with_pings(endless(), interval_s=0.02)
    assert await anext(paced) == 1
    assert await anext(paced) == PING  # event 2 is pending
    await paced.aclose()
    assert cleaned == ["cancelled", "closed"]


async def test_a_ping_needs_a_whole_interval_without_an_event() -> None:
    """One timer serves the whole stream: events closer together than the interval never
    ping, however long the stream runs; a gap longer than it still does."""

    async def steady() -> AsyncIterator[int]:
        for n in range(12):
            await asyncio.sleep(0.03)
            yield n
        await asyncio.sleep(0.25)
        yield 12

    seen = [item async for item in with_pings(steady(), interval_s=0.08)]
    assert [item for item in seen if item != PING] == list(range(13))
    assert PING not in seen[:12]  # 0.36 s of events 0.03 s apart: no ping
    assert seen[12:-1].count(PING) >= 2  # the 0.25 s gap: pings at ~0.08 and ~0.16 s
    assert seen[-1] == 12
