"""Knowledge bases, their documents (with the stored original) and the indexed chunks.

Invariants the ingestion code relies on:
- a document's chunks are written in the same transaction that flips it to ``indexed``, so a
  crash never leaves a half-indexed document marked indexed;
- ``knowledge_bases.revision`` moves in every transaction that changes the KB's searchable
  chunks, so a retriever (in this process or another) notices by reading one integer;
- ``(knowledge_base_id, sha256)`` is unique: identical content is stored once per KB.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from snapagent.db.base import Base, TimestampMixin, UTCDateTime, id_column
from snapagent.db.types import EmbeddingVector

__all__ = ["Chunk", "Document", "DocumentFile", "DocumentStatus", "KnowledgeBase"]


class DocumentStatus(StrEnum):
    """Where a document is in its ingestion; ``failed`` carries ``documents.error``."""

    QUEUED = "queued"
    PARSING = "parsing"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    INDEXED = "indexed"
    FAILED = "failed"

    @classmethod
    def in_progress(cls) -> tuple[DocumentStatus, ...]:
        return (cls.PARSING, cls.CHUNKING, cls.EMBEDDING)


_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in DocumentStatus)


class KnowledgeBase(TimestampMixin, Base):
    """A named collection of documents owned by one user, with its own embedding model.

    >>> KnowledgeBase(owner_id="u1", name="handbook", embedding_model="local")  # doctest: +SKIP
    """

    __tablename__ = "knowledge_bases"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Embedding model spec as the llm registry understands it ("local", "openai:<model>", ...).
    embedding_model: Mapped[str] = mapped_column(String(200), nullable=False)
    # Learned from the model on first ingestion; fixed afterwards (vectors must agree).
    embedding_dim: Mapped[int | None] = mapped_column(Integer, nullable=True)
    chunk_max_tokens: Mapped[int] = mapped_column(Integer, nullable=False)
    chunk_overlap_tokens: Mapped[int] = mapped_column(Integer, nullable=False)
    # Retrieval options (fusion weights, ...) that override the global defaults.
    retrieval_settings: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    documents: Mapped[list[Document]] = relationship(
        back_populates="knowledge_base", cascade="all, delete-orphan", passive_deletes=True
    )


class Document(TimestampMixin, Base):
    """One uploaded file and its ingestion state."""

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("knowledge_base_id", "sha256"),
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[str] = id_column()
    knowledge_base_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("knowledge_bases.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    # The client's name, for display only: it never becomes a path.
    filename: Mapped[str] = mapped_column(String(500), nullable=False)
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=DocumentStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    chunks_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    chunks_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # When a worker claimed it; lets a multi-replica worker reclaim jobs whose claimer died.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    knowledge_base: Mapped[KnowledgeBase] = relationship(back_populates="documents")


class DocumentFile(Base):
    """The original bytes of a document, kept in the database.

    Storing originals in a table (not under a path built from the client's filename) rules out
    path traversal, keeps upload + document row atomic, and works unchanged for several
    replicas sharing one PostgreSQL.
    """

    __tablename__ = "document_files"

    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Chunk(Base):
    """A searchable piece of an indexed document, with its embedding."""

    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("document_id", "chunk_index"),)

    id: Mapped[str] = id_column()
    document_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("documents.id", ondelete="CASCADE"), nullable=False
    )
    # Denormalised from the document so a KB's chunks load (and search) without a join.
    knowledge_base_id: Mapped[str] = mapped_column(
        String(32),
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    heading: Mapped[str | None] = mapped_column(Text, nullable=True)
    token_count: Mapped[int] = mapped_column(Integer, nullable=False)
    char_start: Mapped[int] = mapped_column(Integer, nullable=False)
    char_end: Mapped[int] = mapped_column(Integer, nullable=False)
    embedding_dim: Mapped[int] = mapped_column(Integer, nullable=False)
    embedding: Mapped[Any] = mapped_column(EmbeddingVector(), nullable=False)
