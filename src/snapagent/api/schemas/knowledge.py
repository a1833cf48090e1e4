"""Knowledge bases, documents and retrieval tests on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from snapagent.api.schemas.common import Name, RequestModel
from snapagent.db.pagination import Page

__all__ = [
    "ChunkPublic",
    "ChunksPublic",
    "DocumentPublic",
    "DocumentsPublic",
    "KnowledgeBaseCreate",
    "KnowledgeBasePublic",
    "KnowledgeBasesPublic",
    "QueryRequest",
    "QueryResult",
    "QueryResults",
]


class KnowledgeBaseCreate(RequestModel):
    name: Name = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    embedding_model: str | None = Field(
        default=None, max_length=200, description="Embedding model spec; default: local."
    )
    chunk_max_tokens: int | None = Field(default=None, ge=16, le=8192)
    chunk_overlap_tokens: int | None = Field(default=None, ge=0, le=1024)


class KnowledgeBasePublic(BaseModel):
    id: str
    name: str
    description: str
    embedding_model: str
    embedding_dim: int | None
    chunk_max_tokens: int
    chunk_overlap_tokens: int
    document_count: int
    created_at: datetime


class KnowledgeBasesPublic(Page):
    data: list[KnowledgeBasePublic]


class DocumentPublic(BaseModel):
    id: str
    knowledge_base_id: str
    title: str
    filename: str
    content_type: str | None
    size_bytes: int
    sha256: str
    status: Literal["queued", "parsing", "chunking", "embedding", "indexed", "failed"]
    error: str | None
    chunks_total: int
    chunks_done: int
    progress: float = Field(description="0.0 to 1.0: share of the chunks embedded and indexed.")
    attempts: int
    created: bool = Field(description="False when identical content was already uploaded.")
    notice: str | None = Field(
        default=None,
        description="For a duplicate upload: which document already holds this content and "
        "what was kept (nothing new is stored; a new title or name is not applied).",
    )
    created_at: datetime
    updated_at: datetime
    indexed_at: datetime | None


class DocumentsPublic(Page):
    data: list[DocumentPublic]


class ChunkPublic(BaseModel):
    """One stored chunk of a document, as retrieval searches it (the embedding is not shown)."""

    id: str
    chunk_index: int = Field(description="Position in the document, from 0.")
    text: str
    heading: str | None = Field(
        description='The heading path it sits under, joined with " > "; null before the first '
        "heading."
    )
    token_count: int = Field(description="Tokens, counted as chunking counts them.")
    char_start: int = Field(description="Where the text starts in the document's extracted text.")
    char_end: int = Field(description="Where it ends (exclusive).")


class ChunksPublic(Page):
    """A document's chunks in reading order (``chunk_index``)."""

    data: list[ChunkPublic]


class QueryRequest(RequestModel):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=4, ge=1, le=100)
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"
    score_threshold: float | None = Field(default=None, ge=0.0)
    document_ids: list[str] | None = Field(default=None, max_length=1000)


class QueryResult(BaseModel):
    text: str
    score: float
    document_id: str
    document_title: str
    knowledge_base_id: str
    chunk_id: str
    chunk_index: int
    heading: str | None
    metadata: dict[str, Any]


class QueryResults(Page):
    """The best ``top_k`` hits, best first (a single page)."""

    data: list[QueryResult]
