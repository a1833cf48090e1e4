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
    name: Name = Field(
        min_length=1, max_length=200, description="The knowledge base's name (unique per account)."
    )
    description: str = Field(
        default="", max_length=2000, description="Free text about its contents, for people."
    )
    embedding_model: str | None = Field(
        default=None,
        max_length=200,
        description="Embedding model spec (`provider:model`); default: the server's "
        "`SNAPAGENT_KNOWLEDGE_DEFAULT_EMBEDDING_MODEL`, a local model.",
    )
    chunk_max_tokens: int | None = Field(
        default=None,
        ge=16,
        le=8192,
        description="Largest chunk, in the embedding model's tokens (16-8192); default: the "
        "server's setting (256).",
    )
    chunk_overlap_tokens: int | None = Field(
        default=None,
        ge=0,
        le=1024,
        description="Tokens a chunk repeats from the end of the one before (0-1024); default: "
        "the server's setting (32).",
    )


class KnowledgeBasePublic(BaseModel):
    id: str = Field(description="The knowledge base's id.")
    name: str = Field(description="Its name (unique per account).")
    description: str = Field(description="Free text about its contents (may be empty).")
    embedding_model: str = Field(
        description="The embedding model spec its chunks are embedded with."
    )
    embedding_dim: int | None = Field(
        description="Length of its embedding vectors; null until the first document is embedded."
    )
    chunk_max_tokens: int = Field(description="Largest chunk, in the embedding model's tokens.")
    chunk_overlap_tokens: int = Field(
        description="Tokens a chunk repeats from the end of the one before."
    )
    document_count: int = Field(description="Documents uploaded to it, in any status.")
    created_at: datetime = Field(description="When it was created (UTC).")


class KnowledgeBasesPublic(Page):
    data: list[KnowledgeBasePublic] = Field(description="Your knowledge bases on this page.")


class DocumentPublic(BaseModel):
    id: str = Field(description="The document's id.")
    knowledge_base_id: str = Field(description="The knowledge base it belongs to.")
    title: str = Field(
        description="Its title, cited in answers; when none was given, a title found in the "
        "file, else the file name."
    )
    filename: str = Field(description="The uploaded file's name.")
    content_type: str | None = Field(description="The media type the upload declared, if any.")
    size_bytes: int = Field(description="Size of the uploaded file in bytes.")
    sha256: str = Field(
        description="SHA-256 of the file's bytes (hex); identical content is stored once."
    )
    status: Literal["queued", "parsing", "chunking", "embedding", "indexed", "failed"] = Field(
        description="Where ingestion is: queued, parsing, chunking, embedding, then indexed "
        "(searchable) or failed (see `error`)."
    )
    error: str | None = Field(description="Why ingestion failed; null unless `status` is failed.")
    chunks_total: int = Field(description="Chunks the document was split into (0 until chunked).")
    chunks_done: int = Field(description="Chunks embedded and indexed so far.")
    progress: float = Field(description="0.0 to 1.0: share of the chunks embedded and indexed.")
    attempts: int = Field(
        description="Ingestion attempts started; a crashed one is retried up to the server's "
        "`SNAPAGENT_KNOWLEDGE_MAX_ATTEMPTS` (3)."
    )
    created: bool = Field(description="False when identical content was already uploaded.")
    notice: str | None = Field(
        default=None,
        description="For a duplicate upload: which document already holds this content and "
        "what was kept (nothing new is stored; a new title or name is not applied).",
    )
    created_at: datetime = Field(description="When it was uploaded (UTC).")
    updated_at: datetime = Field(description="When its status or progress last changed (UTC).")
    indexed_at: datetime | None = Field(
        description="When it became searchable (UTC); null until indexed."
    )


class DocumentsPublic(Page):
    data: list[DocumentPublic] = Field(description="The knowledge base's documents on this page.")


class ChunkPublic(BaseModel):
    """One stored chunk of a document, as retrieval searches it (the embedding is not shown)."""

    id: str = Field(description="The chunk's id (a query hit's `chunk_id`).")
    chunk_index: int = Field(description="Position in the document, from 0.")
    text: str = Field(description="The chunk's text, as it is embedded and searched.")
    heading: str | None = Field(
        description='The heading path it sits under, joined with " > "; null before the first '
        "heading."
    )
    token_count: int = Field(description="Tokens, counted as chunking counts them.")
    char_start: int = Field(description="Where the text starts in the document's extracted text.")
    char_end: int = Field(description="Where it ends (exclusive).")


class ChunksPublic(Page):
    """A document's chunks in reading order (``chunk_index``)."""

    data: list[ChunkPublic] = Field(description="The document's chunks on this page.")


class QueryRequest(RequestModel):
    query: str = Field(min_length=1, max_length=4000, description="The text to search for.")
    top_k: int = Field(default=4, ge=1, le=100, description="Most hits to return (1-100).")
    mode: Literal["hybrid", "vector", "keyword"] = Field(
        default="hybrid",
        description="hybrid: keyword (BM25) and vector hits fused; vector: embeddings only; "
        "keyword: BM25 only.",
    )
    score_threshold: float | None = Field(
        default=None, ge=0.0, description="Drop hits scoring below this; null: keep all."
    )
    document_ids: list[str] | None = Field(
        default=None,
        max_length=1000,
        description="Search only these documents of the knowledge base; null: all of them.",
    )


class QueryResult(BaseModel):
    text: str = Field(description="The chunk's text.")
    score: float = Field(description="Relevance (higher is better); comparable within one query.")
    document_id: str = Field(description="The document the chunk comes from.")
    document_title: str = Field(description="That document's title.")
    knowledge_base_id: str = Field(description="The knowledge base the chunk comes from.")
    chunk_id: str = Field(description="The chunk's id.")
    chunk_index: int = Field(description="The chunk's position in its document, from 0.")
    heading: str | None = Field(description="The heading the chunk falls under, if any.")
    metadata: dict[str, Any] = Field(
        description="Where the chunk lies and how it was found: `char_start` and `char_end` "
        "(offsets in the parsed text) and `mode`."
    )


class QueryResults(Page):
    """The best ``top_k`` hits, best first (a single page)."""

    data: list[QueryResult] = Field(description="The hits, best first.")
