"""`snapagent serve`'s start-up hook: the heap frozen and the young generation's threshold set
from `SNAPAGENT_GC_YOUNG_THRESHOLD` (the older generations' left as they were)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import AsyncExitStack
from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import ValidationError

from snapagent.cli.serve import freeze_startup_heap
from snapagent.server_settings import ServerSettings


@pytest.fixture
def threshold() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(before[0], 7, 9)  # older generations' counts the hook must keep
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)


async def test_the_hook_sets_the_young_threshold_and_keeps_the_others(
    threshold: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPAGENT_GC_YOUNG_THRESHOLD", "12345")
    state = cast(Any, SimpleNamespace(settings=ServerSettings(jwt_secret="s" * 32)))
    async with AsyncExitStack() as stack:
        await freeze_startup_heap(state, stack)
    assert gc.get_threshold() == (12345, 7, 9)
    assert gc.get_freeze_count() > 0


def test_the_default_collects_less_often_than_python() -> None:
    assert ServerSettings(jwt_secret="s" * 32).gc_young_threshold == 10_000


@pytest.mark.parametrize("value", ["0", "699", "1000001", "many"])
def test_a_threshold_out_of_bounds_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_GC_YOUNG_THRESHOLD", value)
    with pytest.raises(ValidationError, match="gc_young_threshold"):
        ServerSettings(jwt_secret="s" * 32)
