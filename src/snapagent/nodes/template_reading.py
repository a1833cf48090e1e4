"""Reading node templates - their syntax, variables and substitution plan - without the server
paying for Jinja's parser.

    reader = TemplateReader(timeout_s=10, memory_mb=256)
    facts = reader.read(source)              # from a thread: validation runs in threads
    facts = await reader.read_async(source)  # from the event loop: rendering
    facts.variables, facts.substitution

Jinja's lexer and parser are linear but slow (tens of microseconds per tag: seconds for a
100,000-character template, more on a busy machine). A template of at most `INLINE_CHARS`
characters is read in place - a few milliseconds at worst. A longer one is read by a worker
process of its own pool (one process, niced and confined like the renderers; a flood of
renders never delays validation) within ``timeout_s``, and what it found is cached, so the
render after a publish finds it. Past the deadline, or the worker's memory limit, the template
is a `DefinitionError`: a validation problem at its field.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections import OrderedDict
from functools import lru_cache

from snapagent.errors import DefinitionError
from snapagent.isolation import (
    IsolatedPool,
    IsolationError,
    ProcessLimits,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.isolation.worker import serving
from snapagent.jinja import Substitution, TemplateFacts, read_template
from snapagent.jinja.substitution import Lookup
from snapagent.jinja.worker import prepare_template_worker

__all__ = ["INLINE_CHARS", "TemplateReader"]

INLINE_CHARS = 2_000
"""Longest template read in the calling process (at most a few milliseconds of parsing)."""
CACHE_SIZE = 512
"""Long templates whose facts are kept (keyed by a digest, not the text)."""


@lru_cache(maxsize=1024)
def _read_inline(source: str) -> TemplateFacts:
    return read_template(source)


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class TemplateReader:
    """Reads templates in place or in its worker (see the module docstring); `close()` stops
    the worker. Safe to use from any thread and from the event loop."""

    def __init__(self, *, timeout_s: float, memory_mb: int, max_chars: int = 1_000_000) -> None:
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.max_chars = max_chars
        self._pool: IsolatedPool | None = None
        self._facts: OrderedDict[bytes, TemplateFacts] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def pool(self) -> IsolatedPool:
        with self._lock:
            if self._pool is None:
                self._pool = IsolatedPool(
                    name="template-reader",
                    size=1,
                    limits=ProcessLimits(
                        memory_mb=self.memory_mb,
                        cpu_s=self.timeout_s,
                        max_output_bytes=self.max_chars * 8 + 65536,  # the plan holds the text
                    ),
                    initializer=prepare_template_worker,
                    result_types=(TemplateFacts, Substitution, Lookup),
                )
            return self._pool

    def read(self, source: str) -> TemplateFacts:
        """The template's facts; blocks the calling thread while a worker reads a long one.

        On an event loop's thread (the server never calls it there: validation and compiling
        run in threads; a CLI or a test may) waiting would block the loop, and inside a worker
        process (converting an imported bot) there is nothing to protect and no process to
        start, so a long template is read in place there."""
        if len(source) <= INLINE_CHARS or serving() or _on_event_loop():
            return _read_inline(source)
        key = self._key(source)
        found = self._cached(key)
        if found is None:
            try:
                found = self.pool.call_blocking(read_template, source, timeout_s=self.timeout_s)
            except IsolationError as exc:
                raise self._refusal(exc) from None
            self._keep(key, found)
        return found

    async def read_async(self, source: str) -> TemplateFacts:
        """`read` for a coroutine: a long template is awaited, never parsed on the loop."""
        if len(source) <= INLINE_CHARS:
            return _read_inline(source)
        key = self._key(source)
        found = self._cached(key)
        if found is None:
            try:
                found = await self.pool.call(read_template, source, timeout_s=self.timeout_s)
            except IsolationError as exc:
                raise self._refusal(exc) from None
            self._keep(key, found)
        return found

    @staticmethod
    def _key(source: str) -> bytes:
        return hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20).digest()

    def _cached(self, key: bytes) -> TemplateFacts | None:
        with self._lock:
            found = self._facts.get(key)
            if found is not None:
                self._facts.move_to_end(key)
            return found

    def _keep(self, key: bytes, facts: TemplateFacts) -> None:
        with self._lock:
            self._facts[key] = facts
            while len(self._facts) > CACHE_SIZE:
                self._facts.popitem(last=False)

    def _refusal(self, exc: IsolationError) -> DefinitionError:
        if isinstance(exc, WorkerTimeoutError):
            reason = (
                f"took longer than {self.timeout_s:g} s to read (SNAPAGENT_TEMPLATE_READ_TIMEOUT_S)"
            )
        elif isinstance(exc, WorkerMemoryError):
            reason = f"needed more than {self.memory_mb} MiB to read"
        else:
            reason = f"could not be read: {exc.message}"
        return DefinitionError(f"the template {reason}")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    def close_blocking(self) -> None:
        if self._pool is not None:
            self._pool.close_blocking()
            self._pool = None
