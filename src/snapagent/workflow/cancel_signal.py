"""`CancelSignal`: an `asyncio.Event` that also tells the runs it was passed to, when set.

A run given a plain ``cancel_event`` has to watch it with a task of its own (``await
event.wait()``, then stop the run): a task started and cancelled per run, whether or not
anyone ever cancels - measurable on a chat turn (docs/performance.md item 13). A run given a
`CancelSignal` registers a callback instead, and the task is not needed:

    cancel = CancelSignal()
    task = asyncio.create_task(executor.run(graph, inputs, cancel_event=cancel))
    cancel.set()            # the run is stopped from the event loop's next turn, as before

It is still an `asyncio.Event` (``wait()``, ``is_set()``, ``clear()``), so code expecting one
keeps working. Callbacks run in the order they were added, synchronously inside `set()`; one
that raises is logged and the others still run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

__all__ = ["CancelSignal"]

log = logging.getLogger(__name__)


class CancelSignal(asyncio.Event):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[], object]] = []

    def add_callback(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` when the signal is set (not now if it is set already: check
        `is_set()` first)."""
        self._callbacks.append(callback)

    def remove_callback(self, callback: Callable[[], object]) -> None:
        """Forget ``callback`` (no error if it was not added or already removed)."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    def set(self) -> None:
        if self.is_set():
            return
        super().set()
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:  # one broken callback must not keep the others from cancelling
                log.exception("cancel callback %r failed", callback)
