"""One retry policy for every provider: exponential backoff with jitter, Retry-After, a budget.

Only transient failures are retried (``ProviderError.transient``: 429, 5xx, timeouts, connection
errors), never after the first streamed chunk reached the caller - the caller has already
shown it, and a second answer would be glued to the first.

    policy = RetryPolicy(max_attempts=3, budget_seconds=30)
    result = await policy.call(lambda: client_call())
    async for chunk in policy.stream(lambda: open_stream()): ...
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TypeVar

from snapagent.errors import ProviderError
from snapagent.llm.errors import ProviderRateLimitError
from snapagent.llm.settings import ProviderSettings

__all__ = ["RetryPolicy"]

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _is_transient(exc: ProviderError) -> bool:
    return bool(getattr(exc, "transient", False))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a failed provider call again.

    ``sleep`` and ``monotonic`` are injectable so tests can record the waits instead of
    sleeping (a test asserts "waited 2 s because Retry-After said so" without taking 2 s).
    """

    max_attempts: int = 3
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    budget_seconds: float = 60.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            initial_backoff=settings.initial_backoff_seconds,
            max_backoff=settings.max_backoff_seconds,
            budget_seconds=settings.retry_budget_seconds,
        )

    def delay_for(self, attempt: int, error: ProviderError) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if isinstance(error, ProviderRateLimitError) and error.retry_after is not None:
            return error.retry_after  # the provider knows best when its window reopens
        backoff = min(self.max_backoff, self.initial_backoff * (2.0 ** (attempt - 1)))
        # "Equal jitter": at least half the backoff, so retries never bunch up at zero.
        return backoff / 2 + backoff / 2 * self.jitter()

    def _next_delay(self, attempt: int, error: ProviderError, started: float) -> float | None:
        """The wait before the next attempt, or None when we must give up and raise."""
        if not _is_transient(error) or attempt >= self.max_attempts:
            return None
        delay = self.delay_for(attempt, error)
        if self.monotonic() - started + delay > self.budget_seconds:
            return None
        logger.warning(
            "%s model %r failed (%s, status %s); retry %d/%d in %.2fs",
            error.provider,
            error.model,
            type(error).__name__,
            error.status_code,
            attempt,
            self.max_attempts - 1,
            delay,
        )
        return delay

    async def call(self, attempt_once: Callable[[], Awaitable[T]]) -> T:
        """Run ``attempt_once`` until it succeeds, fails for good, or the budget is spent."""
        started = self.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await attempt_once()
            except ProviderError as exc:
                delay = self._next_delay(attempt, exc, started)
                if delay is None:
                    raise
            await self.sleep(delay)

    async def stream(self, open_once: Callable[[], AsyncGenerator[T, None]]) -> AsyncIterator[T]:
        """Yield from a fresh stream per attempt; retry only while nothing was yielded yet."""
        started = self.monotonic()
        attempt = 0
        while True:
            attempt += 1
            emitted = False
            try:
                async with aclosing(open_once()) as items:
                    async for item in items:
                        emitted = True
                        yield item
                return
            except ProviderError as exc:
                delay = None if emitted else self._next_delay(attempt, exc, started)
                if delay is None:
                    raise
            await self.sleep(delay)
