"""Read-only views of knowledge bases, documents and chunks that use cases hand to callers.

Plain frozen dataclasses (no ORM objects escape a session); ``to_dict()`` gives JSON-ready data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from snapagent.db.models.knowledge import Document, KnowledgeBase
from snapagent.names import clean_name

__all__ = ["ChunkInfo", "DocumentInfo", "KnowledgeBaseInfo"]


@dataclass(frozen=True, slots=True)
class KnowledgeBaseInfo:
    """A knowledge base with its settings and document count."""

    id: str
    name: str
    description: str
    embedding_model: str
    embedding_dim: int | None
    chunk_max_tokens: int
    chunk_overlap_tokens: int
    document_count: int
    created_at: datetime

    @classmethod
    def of(cls, kb: KnowledgeBase, document_count: int = 0) -> KnowledgeBaseInfo:
        return cls(
            id=kb.id,
            name=kb.name,
            description=kb.description,
            embedding_model=kb.embedding_model,
            embedding_dim=kb.embedding_dim,
            chunk_max_tokens=kb.chunk_max_tokens,
            chunk_overlap_tokens=kb.chunk_overlap_tokens,
            document_count=document_count,
            created_at=kb.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return data


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document's identity and ingestion state; ``created`` is False for a duplicate upload,
    and ``notice`` then says what happened to it."""

    id: str
    knowledge_base_id: str
    title: str
    filename: str
    content_type: str | None
    size_bytes: int
    sha256: str
    status: str
    error: str | None
    chunks_total: int
    chunks_done: int
    attempts: int
    created_at: datetime
    updated_at: datetime
    indexed_at: datetime | None
    created: bool = True
    notice: str | None = None

    @classmethod
    def of(cls, doc: Document, *, created: bool = True) -> DocumentInfo:
        return cls(
            id=doc.id,
            knowledge_base_id=doc.knowledge_base_id,
            title=doc.title,
            filename=doc.filename,
            content_type=doc.content_type,
            size_bytes=doc.size_bytes,
            sha256=doc.sha256,
            status=str(doc.status),
            error=doc.error,
            chunks_total=doc.chunks_total,
            chunks_done=doc.chunks_done,
            attempts=doc.attempts,
            created_at=doc.created_at,
            updated_at=doc.updated_at,
            indexed_at=doc.indexed_at,
            created=created,
        )

    def duplicate(self, filename: str, title: str | None) -> DocumentInfo:
        """This (existing) document, as the answer to an upload of identical content named
        ``filename`` with ``title``: ``created`` False and a ``notice`` saying what was kept.

        >>> info = DocumentInfo("d1", "kb", "Guide", "guide.md", None, 5, "0" * 64, "indexed",
        ...     None, 1, 1, 1, datetime(2026, 1, 1), datetime(2026, 1, 1), None)
        >>> info.duplicate("copy.md", "New title").notice  # doctest: +NORMALIZE_WHITESPACE
        "identical content is already document d1 ('Guide', uploaded as 'guide.md', indexed);
        nothing new was stored and the document was kept as it is - the title 'New title'
        was not applied (delete the document first to upload it again)"
        """
        parts = [f"identical content is already document {self.id} ({self.title!r}"]
        if filename != self.filename:
            parts.append(f", uploaded as {self.filename!r}")
        parts.append(f", {self.status}); nothing new was stored and the document was kept as it is")
        wanted = clean_name(title or "")
        if wanted and wanted != self.title:
            parts.append(f" - the title {wanted!r} was not applied")
        if (wanted and wanted != self.title) or filename != self.filename:
            parts.append(" (delete the document first to upload it again)")
        return replace(self, created=False, notice="".join(parts))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "updated_at", "indexed_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        return data


@dataclass(frozen=True, slots=True)
class ChunkInfo:
    """One stored chunk of a document as a reader sees it (never its embedding):
    ``text == parsed_text[char_start:char_end]`` of the document's extracted text; ``heading``
    is the heading path joined with " > " (None before the first heading)."""

    id: str
    chunk_index: int
    text: str
    heading: str | None
    token_count: int
    char_start: int
    char_end: int

    @classmethod
    def of(cls, row: Any) -> ChunkInfo:
        """From a row of `snapagent.knowledge.store.list_chunks`."""
        return cls(
            id=row.id,
            chunk_index=row.chunk_index,
            text=row.text,
            heading=row.heading,
            token_count=row.token_count,
            char_start=row.char_start,
            char_end=row.char_end,
        )
