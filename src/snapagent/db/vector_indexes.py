"""pgvector HNSW indexes, one per embedding dimension (PostgreSQL only).

`chunks.embedding` is an unsized ``vector`` because each knowledge base picks its own embedding
model. An HNSW index needs a fixed dimension, so there is one partial expression index per
dimension in use: ``USING hnsw ((embedding::vector(N)) vector_cosine_ops) WHERE
embedding_dim = N``. Queries must use the same expression and predicate to hit it (see
`knowledge.pg_search`). The migration creates the index for the default model's dimension; the
ingestion code creates others on first use.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

__all__ = [
    "DEFAULT_EMBEDDING_DIM",
    "HNSW_INDEX_PREFIX",
    "create_hnsw_index_sql",
    "ensure_hnsw_index",
    "hnsw_index_name",
]

# all-MiniLM-L6-v2, the embedded default model.
DEFAULT_EMBEDDING_DIM = 384
HNSW_INDEX_PREFIX = "ix_chunks_embedding_hnsw_"
# pgvector cannot index more dimensions than this with HNSW on the vector type.
MAX_HNSW_DIM = 2000


def hnsw_index_name(dim: int) -> str:
    return f"{HNSW_INDEX_PREFIX}{int(dim)}"


def create_hnsw_index_sql(dim: int) -> str:
    dim = int(dim)  # never interpolate anything but an int into DDL
    if not 0 < dim <= MAX_HNSW_DIM:
        raise ValueError(f"cannot build an HNSW index for {dim} dimensions (1..{MAX_HNSW_DIM})")
    return (
        f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(dim)} ON chunks "
        f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
        f"WHERE embedding_dim = {dim}"
    )


async def ensure_hnsw_index(conn: AsyncConnection | AsyncSession, dim: int) -> bool:
    """Create the HNSW index for `dim` if missing; False when the dimension is too large.

    Above the HNSW limit searches still work, by exact scan.
    """
    if not 0 < dim <= MAX_HNSW_DIM:
        return False
    # Two ingestions (tasks or replicas) meeting a new dimension at once would both miss the
    # index and both create it: IF NOT EXISTS is not atomic in the catalogue. The lock (held
    # until the transaction ends) makes the second wait, then find it.
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"hnsw {dim}"})
    # Look first: CREATE INDEX IF NOT EXISTS would still lock the table against writers.
    exists = await conn.scalar(
        text("SELECT 1 FROM pg_indexes WHERE indexname = :name"), {"name": hnsw_index_name(dim)}
    )
    if not exists:
        await conn.execute(text(create_hnsw_index_sql(dim)))
    return True
