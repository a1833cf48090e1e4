"""Vector search in PostgreSQL with pgvector (cosine, HNSW).

The query uses the same expression and predicate as the per-dimension partial HNSW index
(`snapagent.db.vector_indexes`): ``embedding::vector(N) <=> q ... WHERE embedding_dim = N``.
HNSW applies the knowledge-base/document filter after walking the graph, so a selective filter
can leave fewer than ``top_k`` rows; then the search is repeated exactly (index scan off), which
is cheap precisely because the filter is selective. The statement also requires the knowledge
base to belong to the querying owner (an uncorrelated ``EXISTS``, evaluated once per query), so
the SQL itself never returns another account's chunks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["pg_vector_search", "vector_search_sql"]


def _vector_literal(vector: npt.NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def vector_search_sql(dim: int, *, with_documents: bool = False) -> str:
    """The search statement; its distance expression matches the HNSW index for `dim`."""
    dim = int(dim)  # goes into the SQL text (it must match the index expression)
    distance = f"(c.embedding::vector({dim})) <=> CAST(:q AS vector({dim}))"
    documents = " AND c.document_id IN :docs" if with_documents else ""
    owned = "EXISTS (SELECT 1 FROM knowledge_bases k WHERE k.id = :kb AND k.owner_id = :owner)"
    return (
        f"SELECT c.id, 1 - ({distance}) AS score FROM chunks c "
        f"WHERE c.embedding_dim = {dim} AND c.knowledge_base_id = :kb{documents} AND {owned} "
        f"ORDER BY {distance} LIMIT :k"
    )


async def pg_vector_search(
    session: AsyncSession,
    *,
    knowledge_base_id: str,
    owner_id: str,
    vector: npt.NDArray[np.float32],
    top_k: int,
    document_ids: Sequence[str] | None = None,
    ef_search: int = 100,
    expected: int | None = None,
) -> list[tuple[str, float]]:
    """The ``top_k`` (chunk id, cosine similarity) pairs of one KB of ``owner_id``, best first
    (none when the knowledge base belongs to someone else).

    ``expected`` is how many chunks the filter admits (if known): fewer hits than
    ``min(top_k, expected)`` from the index triggers the exact fallback.
    """
    dim = int(vector.shape[0])
    params: dict[str, object] = {
        "q": _vector_literal(vector),
        "kb": knowledge_base_id,
        "owner": owner_id,
        "k": top_k,
    }
    statement = text(vector_search_sql(dim, with_documents=document_ids is not None))
    if document_ids is not None:
        statement = statement.bindparams(bindparam("docs", expanding=True))
        params["docs"] = list(document_ids)
    # SET LOCAL cannot take bind parameters; both values are ints.
    await session.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(ef_search), top_k)}"))
    rows = (await session.execute(statement, params)).all()
    wanted = top_k if expected is None else min(top_k, expected)
    if len(rows) < wanted:
        await session.execute(text("SET LOCAL enable_indexscan = off"))
        rows = (await session.execute(statement, params)).all()
        await session.execute(text("SET LOCAL enable_indexscan = on"))
    return [(str(chunk_id), float(score)) for chunk_id, score in rows]
