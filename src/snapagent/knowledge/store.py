"""Persistence of knowledge bases, documents and their originals (no ingestion logic here).

Every function takes an open `AsyncSession` and leaves committing to the caller, so a use case
in `KnowledgeService` decides its transaction boundary. Ownership is enforced by looking rows
up *with* the owner: another owner's knowledge base is simply "not found".

    async with db.transaction() as session:
        kb = await create_knowledge_base(session, owner_id=user.id, name="handbook", ...)
        doc, created = await add_document(session, kb, "guide.md", None, data)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.accounts import User
from snapagent.db.models.knowledge import (
    Chunk,
    Document,
    DocumentFile,
    DocumentStatus,
    KnowledgeBase,
)
from snapagent.db.pagination import MAX_PAGE_SIZE, SortKey, page_of, paginate
from snapagent.errors import ConflictError, InputValidationError, NotFoundError
from snapagent.names import clean_name, readable_name

__all__ = [
    "add_document",
    "bump_revision",
    "create_knowledge_base",
    "default_title",
    "delete_document",
    "delete_knowledge_base",
    "display_filename",
    "find_by_content",
    "get_document",
    "get_knowledge_base",
    "get_or_create_user",
    "list_chunks",
    "list_documents",
    "list_knowledge_bases",
    "read_original",
    "resolve_knowledge_base",
]

MAX_NAME_LENGTH = 200
MAX_TITLE_LENGTH = 500


async def get_or_create_user(session: AsyncSession, email: str) -> User:
    """The user with `email`, created (without a password) if missing."""
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email)
        session.add(user)
        await session.flush()
    return user


def _check_name(name: str) -> str:
    return readable_name(name, max_length=MAX_NAME_LENGTH)


async def create_knowledge_base(
    session: AsyncSession,
    *,
    owner_id: str,
    name: str,
    description: str,
    embedding_model: str,
    chunk_max_tokens: int,
    chunk_overlap_tokens: int,
    retrieval_settings: dict[str, Any] | None = None,
) -> KnowledgeBase:
    name = _check_name(name)
    if chunk_overlap_tokens >= chunk_max_tokens:
        raise InputValidationError(
            "chunk overlap must be smaller than the chunk size", field="chunk_overlap_tokens"
        )
    taken = await session.scalar(
        select(KnowledgeBase.id).where(
            KnowledgeBase.owner_id == owner_id, KnowledgeBase.name == name
        )
    )
    if taken:
        raise ConflictError(
            f"a knowledge base named {name!r} already exists", details={"id": taken}
        )
    kb = KnowledgeBase(
        owner_id=owner_id,
        name=name,
        description=description,
        embedding_model=embedding_model,
        chunk_max_tokens=chunk_max_tokens,
        chunk_overlap_tokens=chunk_overlap_tokens,
        retrieval_settings=retrieval_settings or {},
        revision=0,
    )
    session.add(kb)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent create with the same name won the race
        raise ConflictError(f"a knowledge base named {name!r} already exists") from exc
    return kb


async def get_knowledge_base(session: AsyncSession, kb_id: str, owner_id: str) -> KnowledgeBase:
    kb = await session.scalar(
        select(KnowledgeBase).where(KnowledgeBase.id == kb_id, KnowledgeBase.owner_id == owner_id)
    )
    if kb is None:
        raise NotFoundError(f"knowledge base {kb_id!r} not found", details={"id": kb_id})
    return kb


async def resolve_knowledge_base(session: AsyncSession, ref: str, owner_id: str) -> KnowledgeBase:
    """A knowledge base by id or by (unique per owner) name."""
    kb = await session.scalar(
        select(KnowledgeBase).where(
            KnowledgeBase.owner_id == owner_id,
            (KnowledgeBase.id == ref) | (KnowledgeBase.name == ref),
        )
    )
    if kb is None:
        raise NotFoundError(f"knowledge base {ref!r} not found", details={"ref": ref})
    return kb


_KB_ORDER = (SortKey(KnowledgeBase.name), SortKey(KnowledgeBase.id))
_DOCUMENT_ORDER = (SortKey(Document.created_at, kind=datetime), SortKey(Document.id))


async def list_knowledge_bases(
    session: AsyncSession,
    owner_id: str,
    *,
    limit: int = MAX_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[tuple[KnowledgeBase, int]], str | None]:
    """A page of the owner's knowledge bases with their document counts, by name; and the
    next page's cursor."""
    counts = (
        select(Document.knowledge_base_id, func.count().label("n"))
        .group_by(Document.knowledge_base_id)
        .subquery()
    )
    query = (
        select(KnowledgeBase, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.knowledge_base_id == KnowledgeBase.id)
        .where(KnowledgeBase.owner_id == owner_id)
    )
    rows = await session.execute(paginate(query, _KB_ORDER, limit=limit, cursor=cursor))
    found = [(kb, int(n)) for kb, n in rows]
    return page_of(found, limit=limit, key=lambda row: (row[0].name, row[0].id))


async def delete_knowledge_base(session: AsyncSession, kb: KnowledgeBase) -> None:
    # Explicit deletes (children first) so it does not depend on ON DELETE CASCADE being on.
    await session.execute(delete(Chunk).where(Chunk.knowledge_base_id == kb.id))
    doc_ids = select(Document.id).where(Document.knowledge_base_id == kb.id)
    await session.execute(delete(DocumentFile).where(DocumentFile.document_id.in_(doc_ids)))
    await session.execute(delete(Document).where(Document.knowledge_base_id == kb.id))
    await session.execute(delete(KnowledgeBase).where(KnowledgeBase.id == kb.id))


def display_filename(filename: str) -> str:
    """The client's filename reduced to a safe display name (never used as a path)."""
    return clean_name(PurePosixPath(filename.replace("\\", "/")).name)[:255] or "upload"


def default_title(filename: str) -> str:
    """The title a document gets until parsing finds a better one (its name without suffix)."""
    return PurePosixPath(filename).stem or filename


async def add_document(
    session: AsyncSession,
    kb: KnowledgeBase,
    filename: str,
    content_type: str | None,
    data: bytes,
    *,
    title: str | None = None,
    digest: str | None = None,
) -> tuple[Document, bool]:
    """Store an upload and queue it; identical content already in the KB is returned as is.

    Returns ``(document, created)``. ``digest`` is the sha256 of ``data`` if already known.
    """
    digest = digest or hashlib.sha256(data).hexdigest()
    existing = await find_by_content(session, kb.id, digest)
    if existing is not None:
        return existing, False
    name = display_filename(filename)
    doc = Document(
        knowledge_base_id=kb.id,
        title=clean_name(title or "")[:MAX_TITLE_LENGTH] or default_title(name),
        filename=name,
        content_type=content_type,
        size_bytes=len(data),
        sha256=digest,
        status=DocumentStatus.QUEUED,
        chunks_total=0,
        chunks_done=0,
        attempts=0,
    )
    session.add(doc)
    await session.flush()
    session.add(DocumentFile(document_id=doc.id, data=data))
    await session.flush()
    return doc, True


async def find_by_content(session: AsyncSession, kb_id: str, digest: str) -> Document | None:
    """The document of knowledge base ``kb_id`` whose original has sha256 ``digest``."""
    return await session.scalar(
        select(Document).where(Document.knowledge_base_id == kb_id, Document.sha256 == digest)
    )


async def list_documents(
    session: AsyncSession,
    kb_id: str,
    *,
    limit: int = MAX_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[Sequence[Document], str | None]:
    """A page of a knowledge base's documents, oldest first; and the next page's cursor."""
    query = select(Document).where(Document.knowledge_base_id == kb_id)
    rows = await session.scalars(paginate(query, _DOCUMENT_ORDER, limit=limit, cursor=cursor))
    return page_of(list(rows), limit=limit, key=lambda doc: (doc.created_at, doc.id))


async def get_document(session: AsyncSession, kb_id: str, document_id: str) -> Document:
    doc = await session.scalar(
        select(Document).where(Document.id == document_id, Document.knowledge_base_id == kb_id)
    )
    if doc is None:
        raise NotFoundError(f"document {document_id!r} not found", details={"id": document_id})
    return doc


_CHUNK_ORDER = (SortKey(Chunk.chunk_index, kind=int),)
# Everything a reader sees of a chunk; never the embedding (kilobytes per row, no use to read).
_CHUNK_COLUMNS = (
    Chunk.id,
    Chunk.chunk_index,
    Chunk.text,
    Chunk.heading,
    Chunk.token_count,
    Chunk.char_start,
    Chunk.char_end,
)


async def list_chunks(
    session: AsyncSession,
    document_id: str,
    *,
    limit: int = MAX_PAGE_SIZE,
    cursor: str | None = None,
) -> tuple[list[Any], str | None]:
    """A page of a document's chunks in reading order (rows of the chunk columns, without the
    embedding); and the next page's cursor. ``chunk_index`` is unique within a document."""
    query = select(*_CHUNK_COLUMNS).where(Chunk.document_id == document_id)
    rows = await session.execute(paginate(query, _CHUNK_ORDER, limit=limit, cursor=cursor))
    return page_of(list(rows), limit=limit, key=lambda row: (row.chunk_index,))


async def read_original(session: AsyncSession, document_id: str) -> bytes:
    data = await session.scalar(
        select(DocumentFile.data).where(DocumentFile.document_id == document_id)
    )
    if data is None:
        raise NotFoundError(f"the original of document {document_id!r} is missing")
    return bytes(data)


async def bump_revision(session: AsyncSession, kb_id: str) -> int:
    """Move the KB's revision (readers reload their indexes); returns the new value."""
    revision = await session.scalar(
        update(KnowledgeBase)
        .where(KnowledgeBase.id == kb_id)
        .values(revision=KnowledgeBase.revision + 1)
        .returning(KnowledgeBase.revision)
    )
    if revision is None:
        raise NotFoundError(f"knowledge base {kb_id!r} not found")
    return int(revision)


async def delete_document(session: AsyncSession, doc: Document) -> tuple[list[str], int]:
    """Delete a document, its original and its chunks; returns (chunk ids, new KB revision)."""
    revision = await bump_revision(session, doc.knowledge_base_id)  # write first: takes the lock
    chunk_ids = list(await session.scalars(select(Chunk.id).where(Chunk.document_id == doc.id)))
    await session.execute(delete(Chunk).where(Chunk.document_id == doc.id))
    await session.execute(delete(DocumentFile).where(DocumentFile.document_id == doc.id))
    await session.execute(delete(Document).where(Document.id == doc.id))
    return chunk_ids, revision
