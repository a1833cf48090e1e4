"""Background ingestion: parse -> chunk -> embed -> index, several documents at a time.

`IngestionWorker` is an in-process asyncio task that drains the job queue kept in the
``documents`` table (see `snapagent.knowledge.jobs`): up to ``ingestion_concurrency``
documents at once, turns shared fairly between accounts (`snapagent.knowledge.scheduling`).
Parsing runs in a worker process with a deadline and a memory limit (`DocumentParser`). Each
document moves through
``queued -> parsing -> chunking -> embedding -> indexed`` (or ``failed`` with the reason), with
``chunks_done/chunks_total`` updated per embedding batch. Guarantees:

- a failing document never affects the others: every error is caught per job and recorded;
- chunks are written in the same transaction that marks the document indexed, so a crash
  leaves it in an in-progress state with no chunks; `start()` requeues such documents;
- listeners (the retriever's in-memory indexes) hear about each committed change.

    worker = IngestionWorker(db, resolve_embedding_model)
    worker.start()            # background task; worker.notify() after queueing a document
    await worker.wait_for([doc.id])
    await worker.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from snapagent.db.base import new_id, utcnow
from snapagent.db.models.knowledge import Document, DocumentStatus
from snapagent.db.session import Database
from snapagent.db.vector_indexes import ensure_hnsw_index
from snapagent.errors import InputValidationError, SnapAgentError, UnsupportedMediaError
from snapagent.knowledge.jobs import (
    ClaimedJob,
    finish_job,
    mark_failed,
    requeue_interrupted,
    update_job,
)
from snapagent.knowledge.parser_pool import DocumentParser
from snapagent.knowledge.records import ChunkRecord, EmbeddingResolver, IndexChange, IndexListener
from snapagent.knowledge.scheduling import FairScheduler
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.knowledge.store import MAX_TITLE_LENGTH, default_title, read_original
from snapagent.llm.embedding import EmbeddingModel
from snapagent.names import clean_name

__all__ = ["IngestionError", "IngestionWorker"]

log = logging.getLogger(__name__)

TERMINAL = (DocumentStatus.INDEXED, DocumentStatus.FAILED)
# How long the background worker waits before trying again after an infrastructure error.
RETRY_PAUSE_SECONDS = 2.0
# How often an idle worker looks for jobs abandoned by dead workers (and for queued documents
# another process added without being able to notify us).
RECOVERY_INTERVAL_SECONDS = 60.0


class IngestionError(SnapAgentError):
    """A document could not be ingested for a reason that is not the file's fault."""


class _JobGone(Exception):
    """The document was deleted or re-claimed while this worker was on it."""


class IngestionWorker:
    """Drains queued documents in the background, several at a time, fairly across accounts.

    >>> worker = IngestionWorker(db, resolver)  # doctest: +SKIP
    >>> await worker.run_until_idle()  # doctest: +SKIP  (foreground, e.g. in a CLI)
    """

    def __init__(
        self,
        db: Database,
        embeddings: EmbeddingResolver,
        settings: KnowledgeSettings | None = None,
        parser: DocumentParser | None = None,
    ) -> None:
        self._db = db
        self._embeddings = embeddings
        self._settings = settings or KnowledgeSettings()
        self._owns_parser = parser is None
        self.parser = parser or DocumentParser(self._settings)
        self._listeners: list[IndexListener] = []
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._hnsw_dims: set[int] = set()  # dimensions whose HNSW index is known to exist
        self._in_flight: set[str] = set()  # documents this worker is processing right now
        self._scheduler = FairScheduler(self._settings.ingestion_per_account)

    def add_listener(self, listener: IndexListener) -> None:
        self._listeners.append(listener)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run_forever(), name="snapagent-ingestion")
        self._wake.set()

    def notify(self) -> None:
        """Tell the worker new jobs were queued."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the background task (documents in flight are handed back); a parser this
        worker made for itself is closed too."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._owns_parser:
            await self.parser.close()

    async def recover(self, stale_after: float | None = None) -> int:
        """Requeue documents whose worker stopped sending heartbeats `stale_after` seconds ago
        (default: ``settings.stale_after_seconds``); returns how many were taken back."""
        seconds = self._settings.stale_after_seconds if stale_after is None else stale_after
        count = await requeue_interrupted(
            self._db,
            max_attempts=self._settings.max_attempts,
            stale_before=utcnow() - timedelta(seconds=seconds),
        )
        if count:
            log.warning("took back %d document(s) left mid-ingestion by a dead worker", count)
        return count

    async def _run_forever(self) -> None:
        next_recovery = 0.0
        while True:
            try:
                if time.monotonic() >= next_recovery:
                    await self.recover()
                    next_recovery = time.monotonic() + RECOVERY_INTERVAL_SECONDS
                self._wake.clear()
                await self.run_until_idle()
            except SnapAgentError as exc:  # e.g. the database is briefly unavailable
                log.warning("ingestion worker paused: %s", exc.message)
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            except Exception:
                log.exception("ingestion worker error; retrying")
                await asyncio.sleep(RETRY_PAUSE_SECONDS)
                continue
            # Sleep until new work is announced, or look for abandoned jobs now and then.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), RECOVERY_INTERVAL_SECONDS)

    async def run_until_idle(self) -> int:
        """Process queued documents until none is left that this process may take (up to
        ``ingestion_concurrency`` at once); returns how many were processed."""
        done = 0
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                self._wake.clear()  # anything queued from now on wakes the wait below
                while len(running) < self._settings.ingestion_concurrency:
                    job = await self._scheduler.claim(self._db)
                    if job is None:
                        break
                    running.add(asyncio.create_task(self.process(job), name="snapagent-ingest"))
                if not running:
                    return done
                woken: asyncio.Task[Any] = asyncio.create_task(self._wake.wait())
                await asyncio.wait({*running, woken}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                finished = {task for task in running if task.done()}
                running -= finished
                for task in finished:
                    if not task.cancelled() and task.exception() is not None:
                        # Not the document's fault (that is recorded on it): the database,
                        # most likely. The job goes stale and is taken back by recover().
                        log.warning("ingestion job stopped: %r", task.exception())
                if finished:
                    done += len(finished)
                    async with self._progress:
                        self._progress.notify_all()
        finally:
            for task in running:  # stopping: each hands its document back
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def wait_for(self, document_ids: Iterable[str]) -> None:
        """Wait until every listed document is indexed or failed (or deleted).

        Bound it with ``async with asyncio.timeout(...)`` where needed.
        """
        ids = list(document_ids)
        while not await self._all_settled(ids):
            async with self._progress:
                # Re-check at least twice a second: another process may be the one ingesting.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), 0.5)

    async def _all_settled(self, ids: Sequence[str]) -> bool:
        if not ids:
            return True
        if not self._in_flight.isdisjoint(ids):
            return False  # committed maybe, but listeners have not heard of it yet
        async with self._db.session() as session:
            statuses = await session.scalars(select(Document.status).where(Document.id.in_(ids)))
            return all(status in TERMINAL for status in statuses)

    # -- one document ---------------------------------------------------------------------------

    async def process(self, job: ClaimedJob) -> None:
        """Run one claimed job to indexed or failed; never raises for a document's fault."""
        self._in_flight.add(job.document_id)
        try:
            await self._process(job)
        finally:
            self._in_flight.discard(job.document_id)
            self._scheduler.release(job)

    async def _process(self, job: ClaimedJob) -> None:
        try:
            await self._ingest(job)
        except asyncio.CancelledError:
            # Shutting down: hand the job back now rather than letting it go stale. If even
            # that fails (process killed), recover() takes it back once its heartbeat is old.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._hand_back(job))
            raise
        except _JobGone:
            pass
        except (InputValidationError, UnsupportedMediaError) as exc:
            await mark_failed(self._db, job, exc.message)
        except SnapAgentError as exc:
            log.warning("ingestion of %s failed: %s", job.document_id, exc.message)
            await mark_failed(self._db, job, exc.message)
        except Exception as exc:
            log.exception("unexpected error ingesting document %s", job.document_id)
            await mark_failed(self._db, job, f"internal error ({type(exc).__name__})")

    async def _hand_back(self, job: ClaimedJob) -> None:
        # An interrupted shutdown is not a failed attempt: restore the attempt count.
        await update_job(
            self._db, job, status=DocumentStatus.QUEUED, chunks_done=0, attempts=job.attempt - 1
        )

    async def _ingest(self, job: ClaimedJob) -> None:
        from snapagent.knowledge.chunking import chunk_document

        async with self._db.session() as session:
            data = await read_original(session, job.document_id)
        # In a worker process, with a deadline and a memory limit: the server never parses.
        parsed = await self.parser.parse(data, job.filename, job.content_type)
        model = self._embeddings(job.embedding_model)
        if job.embedding_dim is not None and job.embedding_dim != model.dimension:
            raise IngestionError(
                f"embedding model {job.embedding_model!r} returns {model.dimension} dimensions "
                f"but this knowledge base holds {job.embedding_dim}-dimensional vectors"
            )
        # A title found inside the file is as untrusted as a typed one: cleaned the same way.
        found = clean_name(parsed.title)[:MAX_TITLE_LENGTH]
        title = (found or job.title) if job.title == default_title(job.filename) else job.title
        if not await update_job(self._db, job, status=DocumentStatus.CHUNKING, title=title):
            return  # deleted or re-claimed meanwhile
        # Chunking counts tokens with the embedding model's tokenizer (loaded here), on text
        # that parsing already bounded (max_text_chars): a thread keeps the loop free.
        drafts = await asyncio.to_thread(
            chunk_document,
            parsed,
            model.count_tokens,
            job.chunk_max_tokens,
            job.chunk_overlap_tokens,
        )
        if not await update_job(
            self._db, job, status=DocumentStatus.EMBEDDING, chunks_total=len(drafts)
        ):
            return
        vectors = await self._embed(job, model, [d.text for d in drafts])
        records = [
            ChunkRecord(
                id=new_id(),
                document_id=job.document_id,
                document_title=title,
                chunk_index=d.index,
                text=d.text,
                heading=d.heading,
                char_start=d.char_start,
                char_end=d.char_end,
                token_count=d.token_count,
                embedding=vectors[i],
            )
            for i, d in enumerate(drafts)
        ]
        if self._db.is_postgres and model.dimension not in self._hnsw_dims:
            async with self._db.transaction() as session:
                await ensure_hnsw_index(session, model.dimension)
            self._hnsw_dims.add(model.dimension)
        revision = await finish_job(self._db, job, records, model.dimension)
        if revision is not None:
            self._emit(IndexChange(job.knowledge_base_id, revision, added=records))

    async def _embed(
        self, job: ClaimedJob, model: EmbeddingModel, texts: list[str]
    ) -> np.ndarray[tuple[int, int], np.dtype[np.float32]]:
        batch = self._settings.embed_batch_size
        out = np.empty((len(texts), model.dimension), dtype=np.float32)
        for start in range(0, len(texts), batch):
            part = texts[start : start + batch]
            vectors = np.asarray(await model.embed_documents(part), dtype=np.float32)
            if vectors.shape != (len(part), model.dimension):
                raise IngestionError(
                    f"embedding model {model.model_id!r} returned shape {vectors.shape}, "
                    f"expected {(len(part), model.dimension)}"
                )
            if not np.isfinite(vectors).all():
                raise IngestionError(f"embedding model {model.model_id!r} returned NaN/inf")
            out[start : start + len(part)] = vectors
            done = start + len(part)
            if not await update_job(self._db, job, chunks_done=done):
                raise _JobGone  # deleted or re-claimed: stop embedding it
        return out

    def _emit(self, change: IndexChange) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:  # a listener bug must not fail ingestion that already committed
                log.exception("index listener failed")

    def emit(self, change: IndexChange) -> None:
        """Publish a change made elsewhere (e.g. a document deleted by the service)."""
        self._emit(change)
