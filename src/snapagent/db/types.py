"""Column types that differ between SQLite and PostgreSQL.

`EmbeddingVector` stores an embedding as a pgvector ``vector`` on PostgreSQL (so HNSW indexes and
the ``<=>`` operator work in SQL) and as a little-endian float32 BLOB on SQLite (loaded into an
in-memory matrix by the retriever). Python sees a 1-D ``numpy.float32`` array either way.

The PostgreSQL column has no fixed dimension because the embedding model is chosen per
knowledge base; HNSW indexes are built per dimension on ``embedding::vector(N)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from pgvector.sqlalchemy import VECTOR
from sqlalchemy import LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["EmbeddingVector", "blob_to_vector", "vector_to_blob"]

FloatArray = npt.NDArray[np.float32]


def vector_to_blob(vector: FloatArray) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def blob_to_vector(blob: bytes) -> FloatArray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32, copy=False)


class EmbeddingVector(TypeDecorator[FloatArray]):
    """pgvector ``vector`` on PostgreSQL, float32 BLOB elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(VECTOR())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != 1:
            raise ValueError("an embedding must be a 1-D vector")
        if dialect.name == "postgresql":
            return array  # pgvector's bind processor formats it
        return vector_to_blob(array)

    def process_result_value(self, value: Any, dialect: Dialect) -> FloatArray | None:
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return blob_to_vector(bytes(value))
        return np.asarray(value, dtype=np.float32)
