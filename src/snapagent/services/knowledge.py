"""`KnowledgeService`: the knowledge use cases the HTTP API and the CLI both call.

One instance per process (it owns the ingestion worker and the retriever's in-memory indexes).
Every call takes the caller's user id; another owner's knowledge base is "not found".

    service = KnowledgeService(db)            # embedding models from snapagent.llm
    service.start()                           # background ingestion
    kb = await service.create_knowledge_base(user_id, "handbook")
    doc = await service.add_document(user_id, kb.id, "guide.md", data)
    await service.wait_for_documents([doc.id])
    hits = await service.query(user_id, [kb.id], "how do I reset my password?")
    await service.close()
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select

from snapagent.db.models.knowledge import Document, DocumentStatus
from snapagent.db.pagination import MAX_PAGE_SIZE
from snapagent.db.session import Database
from snapagent.errors import (
    ConflictError,
    InputValidationError,
    PayloadTooLargeError,
    ProviderError,
    SnapAgentError,
)
from snapagent.knowledge import store
from snapagent.knowledge.ingestion import IngestionWorker
from snapagent.knowledge.parser_pool import DocumentParser
from snapagent.knowledge.records import EmbeddingResolver, IndexChange
from snapagent.knowledge.reembed import Progress, ReembedResult, reembed_knowledge_base
from snapagent.knowledge.retriever import KnowledgeRetriever
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.knowledge.views import ChunkInfo, DocumentInfo, KnowledgeBaseInfo
from snapagent.llm.embedding import EmbeddingModel
from snapagent.services.knowledge_usage import (
    detach_knowledge_base,
    in_use_error,
    knowledge_base_uses,
)
from snapagent.workflow.services import RetrievalMode, RetrievalQuery, RetrievedDocument

__all__ = [
    "DocumentInfo",
    "KnowledgeBaseInfo",
    "KnowledgeService",
    "ReembedResult",
    "default_embedding_resolver",
]

T = TypeVar("T")


def default_embedding_resolver() -> EmbeddingResolver:
    """Embedding models from `snapagent.llm`, imported on first use (constructing a service
    never loads a model or a provider SDK)."""

    def resolve(spec: str) -> EmbeddingModel:
        from snapagent.llm.registry import get_embedding_model

        return get_embedding_model(spec)

    return resolve


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _CachedResolver:
    def __init__(self, resolve: EmbeddingResolver) -> None:
        self._resolve = resolve
        self._models: dict[str, EmbeddingModel] = {}

    def __call__(self, spec: str) -> EmbeddingModel:
        model = self._models.get(spec)
        if model is None:
            model = self._models[spec] = self._resolve(spec)
        return model


def _check_content(data: bytes, name: str, content_type: str | None) -> None:
    """Not empty, and bytes that agree with the claimed type (`detect_format`'s errors)."""
    from snapagent.knowledge.parsing import detect_format

    if data.isspace() or not data:
        raise InputValidationError(f"{name!r} is empty", field="file")
    detect_format(data, name, content_type)


class KnowledgeService:
    """Knowledge bases, documents, ingestion and retrieval for one process.

    >>> service = KnowledgeService(db, embeddings=lambda spec: my_model)  # doctest: +SKIP
    """

    def __init__(
        self,
        db: Database,
        *,
        embeddings: EmbeddingResolver | None = None,
        settings: KnowledgeSettings | None = None,
        retriever: KnowledgeRetriever | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or KnowledgeSettings()
        self.embeddings = _CachedResolver(embeddings or default_embedding_resolver())
        self.parser = DocumentParser(self.settings)
        self.worker = IngestionWorker(db, self.embeddings, self.settings, self.parser)
        self.retriever = retriever or KnowledgeRetriever(
            db, self.embeddings, settings=self.settings
        )
        self.worker.add_listener(self.retriever.on_change)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start background ingestion (it also takes back documents abandoned by dead workers),
        and load the default embedding model in the background if it is a local one, so the
        first question does not wait for it."""
        self.worker.start()
        # in a thread: resolving may import the provider SDKs (seconds), never on the event loop
        threading.Thread(
            target=self._warm_up_default_model, name="snapagent-embedding-warm-up", daemon=True
        ).start()

    def _warm_up_default_model(self) -> None:
        try:
            model = self.embeddings(self.settings.default_embedding_model)
        except Exception:  # e.g. a remote model without its key: reported when it is used
            return
        warm_up = getattr(model, "warm_up", None)
        if callable(warm_up):
            warm_up()  # returns at once; the model's own worker thread loads it

    async def close(self) -> None:
        """Stop ingestion (documents in flight are handed back) and the parser's workers."""
        await self.worker.stop()
        await self.parser.close()

    async def ensure_user(self, email: str) -> str:
        """The id of the user with `email`, created without a password if missing (tests)."""
        async with self.db.transaction() as session:
            return (await store.get_or_create_user(session, email)).id

    # -- knowledge bases ------------------------------------------------------------------------

    async def create_knowledge_base(
        self,
        owner_id: str,
        name: str,
        *,
        description: str = "",
        embedding_model: str | None = None,
        chunk_max_tokens: int | None = None,
        chunk_overlap_tokens: int | None = None,
        retrieval_settings: dict[str, Any] | None = None,
    ) -> KnowledgeBaseInfo:
        spec = (embedding_model or self.settings.default_embedding_model).strip()
        self._check_embedding_model(spec)
        if retrieval_settings:
            self._check_retrieval_settings(retrieval_settings)
        async with self.db.transaction() as session:
            kb = await store.create_knowledge_base(
                session,
                owner_id=owner_id,
                name=name,
                description=description,
                embedding_model=spec,
                chunk_max_tokens=chunk_max_tokens or self.settings.chunk_max_tokens,
                chunk_overlap_tokens=(
                    self.settings.chunk_overlap_tokens
                    if chunk_overlap_tokens is None
                    else chunk_overlap_tokens
                ),
                retrieval_settings=retrieval_settings,
            )
            return KnowledgeBaseInfo.of(kb)

    def _check_retrieval_settings(self, overrides: dict[str, Any]) -> None:
        try:
            self.retriever.fusion_config(overrides)
        except (ValueError, TypeError) as exc:  # DefinitionError is a ValueError
            raise InputValidationError(
                f"invalid retrieval settings: {exc}", field="retrieval_settings"
            ) from exc
        languages = overrides.get("embedding_languages")
        if languages is not None and (
            not isinstance(languages, list) or not all(isinstance(x, str) for x in languages)
        ):
            raise InputValidationError(
                "embedding_languages must be a list of language codes such as ['ko', 'en']",
                field="retrieval_settings",
            )

    def _check_embedding_model(self, spec: str) -> None:
        try:
            self.embeddings(spec)
        except ProviderError:
            raise  # a provider outage is not the caller's mistake
        except SnapAgentError as exc:
            raise InputValidationError(exc.message, field="embedding_model") from exc

    async def list_knowledge_bases(self, owner_id: str) -> list[KnowledgeBaseInfo]:
        """All of the owner's knowledge bases, by name."""
        return await _every_page(lambda cursor: self.knowledge_base_page(owner_id, cursor=cursor))

    async def knowledge_base_page(
        self, owner_id: str, *, limit: int = MAX_PAGE_SIZE, cursor: str | None = None
    ) -> tuple[list[KnowledgeBaseInfo], str | None]:
        """A page of the owner's knowledge bases, by name, and the next page's cursor."""
        async with self.db.session() as session:
            rows, next_cursor = await store.list_knowledge_bases(
                session, owner_id, limit=limit, cursor=cursor
            )
            return [KnowledgeBaseInfo.of(kb, count) for kb, count in rows], next_cursor

    async def get_knowledge_base(self, owner_id: str, ref: str) -> KnowledgeBaseInfo:
        """A knowledge base by id or by name."""
        async with self.db.session() as session:
            kb = await store.resolve_knowledge_base(session, ref, owner_id)
            count = await session.scalar(
                select(func.count())
                .select_from(Document)
                .where(Document.knowledge_base_id == kb.id)
            )
            return KnowledgeBaseInfo.of(kb, int(count or 0))

    async def delete_knowledge_base(
        self, owner_id: str, kb_id: str, *, force: bool = False
    ) -> None:
        """Delete a knowledge base with its documents. `ConflictError` (listing the bots)
        while a draft, published version or V1 workflow of the owner's uses it, unless
        ``force`` detaches it (see `snapagent.services.knowledge_usage`)."""
        async with self.db.transaction() as session:
            kb = await store.get_knowledge_base(session, kb_id, owner_id)
            uses = await knowledge_base_uses(session, owner_id, kb.id)
            if uses and not force:
                raise in_use_error(kb.id, uses)
            await detach_knowledge_base(session, owner_id, kb.id)
            await store.delete_knowledge_base(session, kb)
        self.retriever.cache.forget(kb_id)

    async def reembed(
        self,
        owner_id: str,
        kb_id: str,
        embedding_model: str | None = None,
        *,
        progress: Progress | None = None,
    ) -> ReembedResult:
        """Embed every chunk of the knowledge base again with ``embedding_model`` (default: the
        default for new knowledge bases) and switch to it in one transaction; see
        `snapagent.knowledge.reembed`. The knowledge base answers with its old model until then.
        """
        spec = (embedding_model or self.settings.default_embedding_model).strip()
        self._check_embedding_model(spec)
        async with self.db.session() as session:
            kb = await store.get_knowledge_base(session, kb_id, owner_id)
        result = await reembed_knowledge_base(
            self.db,
            kb.id,
            spec,
            self.embeddings(spec),
            batch_size=self.settings.embed_batch_size,
            progress=progress,
        )
        self.retriever.cache.forget(kb.id)
        return result

    # -- documents ----------------------------------------------------------------------------

    async def add_document(
        self,
        owner_id: str,
        kb_id: str,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        title: str | None = None,
    ) -> DocumentInfo:
        """Store an upload and queue it for ingestion (identical content is not duplicated).

        Before anything is stored the file is checked: its size (`PayloadTooLargeError`), its
        type (`UnsupportedMediaError`), and - parsed in a worker, within
        ``upload_check_timeout_s`` - whether it can be ingested at all (`DocumentParseError`:
        no text, truncated, corrupt; `DocumentLimitError`: a zip bomb, too many pages...).
        Identical content already in the knowledge base is answered with that document
        (``created`` False, ``notice`` says what was kept) without being parsed again.
        """
        name = store.display_filename(filename)
        limit = self.settings.max_upload_bytes
        if len(data) > limit:
            raise PayloadTooLargeError(
                f"{name!r} is {len(data)} bytes; the limit is {limit}",
                details={"filename": filename, "limit": limit},
            )
        # Reading the upload's bytes (up to the upload limit) is work on user content: in a
        # thread, never on the event loop.
        await asyncio.to_thread(_check_content, data, name, content_type)
        digest = await asyncio.to_thread(_sha256, data)  # 20 MB is tens of ms of hashing
        async with self.db.session() as session:
            kb = await store.get_knowledge_base(session, kb_id, owner_id)  # 404 before work
            existing = await store.find_by_content(session, kb.id, digest)
            if existing is not None:
                return DocumentInfo.of(existing, created=False).duplicate(name, title)
        await self.parser.check(owner_id, data, name, content_type)
        async with self.db.transaction() as session:
            kb = await store.get_knowledge_base(session, kb_id, owner_id)
            doc, created = await store.add_document(
                session, kb, filename, content_type, data, title=title, digest=digest
            )
            info = DocumentInfo.of(doc, created=created)
        if created:
            self.worker.notify()
            return info
        return info.duplicate(name, title)  # the same content arrived meanwhile

    async def list_documents(self, owner_id: str, kb_id: str) -> list[DocumentInfo]:
        """All documents of a knowledge base, oldest first."""
        return await _every_page(lambda cursor: self.document_page(owner_id, kb_id, cursor=cursor))

    async def document_page(
        self, owner_id: str, kb_id: str, *, limit: int = MAX_PAGE_SIZE, cursor: str | None = None
    ) -> tuple[list[DocumentInfo], str | None]:
        """A page of a knowledge base's documents, oldest first, and the next page's cursor."""
        async with self.db.session() as session:
            await store.get_knowledge_base(session, kb_id, owner_id)
            rows, next_cursor = await store.list_documents(
                session, kb_id, limit=limit, cursor=cursor
            )
            return [DocumentInfo.of(d) for d in rows], next_cursor

    async def get_document(self, owner_id: str, kb_id: str, document_id: str) -> DocumentInfo:
        async with self.db.session() as session:
            await store.get_knowledge_base(session, kb_id, owner_id)
            return DocumentInfo.of(await store.get_document(session, kb_id, document_id))

    async def chunk_page(
        self,
        owner_id: str,
        kb_id: str,
        document_id: str,
        *,
        limit: int = MAX_PAGE_SIZE,
        cursor: str | None = None,
    ) -> tuple[list[ChunkInfo], str | None]:
        """A page of a document's chunks in reading order, and the next page's cursor. Chunks
        are stored when ingestion finishes: none before the first indexing; while a document is
        indexed again, the previous chunks until the new ones replace them."""
        async with self.db.session() as session:
            await store.get_knowledge_base(session, kb_id, owner_id)
            await store.get_document(session, kb_id, document_id)
            rows, next_cursor = await store.list_chunks(
                session, document_id, limit=limit, cursor=cursor
            )
            return [ChunkInfo.of(row) for row in rows], next_cursor

    async def delete_document(self, owner_id: str, kb_id: str, document_id: str) -> None:
        """Delete a document with its original, chunks and vectors (indexes updated at once)."""
        async with self.db.transaction() as session:
            await store.get_knowledge_base(session, kb_id, owner_id)
            doc = await store.get_document(session, kb_id, document_id)
            chunk_ids, revision = await store.delete_document(session, doc)
        self.worker.emit(IndexChange(kb_id, revision, removed_ids=chunk_ids))

    async def retry_document(self, owner_id: str, kb_id: str, document_id: str) -> DocumentInfo:
        """Queue a failed (or indexed: re-index) document again; its old chunks stay searchable
        until the new ones replace them in one transaction."""
        async with self.db.transaction() as session:
            await store.get_knowledge_base(session, kb_id, owner_id)
            doc = await store.get_document(session, kb_id, document_id)
            if doc.status not in (DocumentStatus.FAILED, DocumentStatus.INDEXED):
                raise ConflictError(
                    f"document {document_id} is {doc.status}; only failed or indexed documents "
                    "can be retried",
                    details={"status": str(doc.status)},
                )
            doc.status = DocumentStatus.QUEUED
            doc.error = None
            doc.attempts = 0
            doc.chunks_done = 0
            await session.flush()
            info = DocumentInfo.of(doc)
        self.worker.notify()
        return info

    async def wait_for_documents(self, document_ids: Sequence[str]) -> list[DocumentInfo]:
        """Wait until the documents are indexed or failed; returns their final state.

        Needs the worker running (`start()`), or another process ingesting.
        """
        await self.worker.wait_for(document_ids)
        async with self.db.session() as session:
            docs = await session.scalars(select(Document).where(Document.id.in_(document_ids)))
            by_id = {d.id: DocumentInfo.of(d) for d in docs}
        return [by_id[i] for i in document_ids if i in by_id]

    # -- retrieval ------------------------------------------------------------------------------

    async def query(
        self,
        owner_id: str,
        kb_ids: Sequence[str],
        query: str,
        *,
        top_k: int = 4,
        mode: RetrievalMode = "hybrid",
        score_threshold: float | None = None,
        document_ids: Sequence[str] | None = None,
    ) -> list[RetrievedDocument]:
        """Retrieval over the owner's knowledge bases (the API's "retrieval test")."""
        if not kb_ids:
            raise InputValidationError(
                "name at least one knowledge base", field="knowledge_base_ids"
            )
        async with self.db.session() as session:
            for kb_id in kb_ids:
                await store.get_knowledge_base(session, kb_id, owner_id)
        return await self.retriever.retrieve(
            RetrievalQuery(
                query=query,
                knowledge_base_ids=list(kb_ids),
                top_k=top_k,
                score_threshold=score_threshold,
                mode=mode,
                document_ids=list(document_ids) if document_ids is not None else None,
                owner_id=owner_id,
            )
        )


async def _every_page(
    fetch: Callable[[str | None], Awaitable[tuple[list[T], str | None]]],
) -> list[T]:
    """Every item of a paged list, page after page (for the CLI and scripts)."""
    items: list[T] = []
    cursor: str | None = None
    while True:
        page, cursor = await fetch(cursor)
        items += page
        if cursor is None:
            return items
