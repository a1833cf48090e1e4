"""The embedding interface: a batch of texts in, L2-normalised float32 vectors out.

Knowledge ingestion embeds documents with `embed_documents`; retrieval embeds the question with
`embed_query` (some models, e.g. e5, prefix the two differently). `count_tokens` lets the
chunker size chunks in the model's own tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["EmbeddingModel", "Vectors"]

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class EmbeddingModel(Protocol):
    @property
    def model_id(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Shape (len(texts), dimension), rows L2-normalised."""
        ...

    async def embed_query(self, text: str) -> Vectors:
        """Shape (dimension,), L2-normalised."""
        ...

    def count_tokens(self, text: str) -> int: ...
