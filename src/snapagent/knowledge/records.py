"""Small value types shared by ingestion, the index cache and the retriever."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from snapagent.llm.embedding import EmbeddingModel

__all__ = ["ChunkRecord", "EmbeddingResolver", "IndexChange", "IndexListener"]

# Turns a knowledge base's embedding model spec ("local", "openai:...") into a model.
EmbeddingResolver = Callable[[str], EmbeddingModel]


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """What retrieval needs about one chunk (the vector only where it is searched in memory)."""

    id: str
    document_id: str
    document_title: str
    chunk_index: int
    text: str
    heading: str | None
    char_start: int = 0
    char_end: int = 0
    token_count: int = 0
    embedding: npt.NDArray[np.float32] | None = None


@dataclass(frozen=True, slots=True)
class IndexChange:
    """A committed change of a KB's searchable chunks, at KB revision ``revision``."""

    knowledge_base_id: str
    revision: int
    added: Sequence[ChunkRecord] = ()
    removed_ids: Sequence[str] = field(default_factory=tuple)


IndexListener = Callable[[IndexChange], None]
