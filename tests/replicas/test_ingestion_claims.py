"""Background ingestion across processes on PostgreSQL: every job done exactly once.

Two OS processes drain one queue of documents at the same moment (row claiming with ``FOR
UPDATE SKIP LOCKED``): each document is finished by exactly one of them, once (one attempt,
one set of chunks). A process that dies mid-job leaves it claimed; once its heartbeat is
older than the stale limit, another process takes it back and finishes it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from replicas.live import start_together
from snapagent.db.models.knowledge import Chunk, Document, DocumentStatus
from snapagent.db.session import Database
from snapagent.llm.embedding import EmbeddingModel
from snapagent.services.knowledge import KnowledgeService

WORKER = Path(__file__).with_name("ingest_worker.py")
DOCUMENTS = 30

# PostgreSQL only: the migrated database of the root conftest, on its postgres parameter.
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


async def _queue(db: Database, hash_embeddings: EmbeddingModel, count: int) -> list[str]:
    """``count`` queued documents (the service's worker is not started)."""
    service = KnowledgeService(db, embeddings=lambda spec: hash_embeddings)
    owner = await service.ensure_user("claims@example.com")
    kb = await service.create_knowledge_base(owner, "claims", embedding_model="test-hash")
    ids = []
    for i in range(count):
        text = f"# Document {i}\n\n" + " ".join(f"word{i}-{j}" for j in range(120))
        doc = await service.add_document(owner, kb.id, f"doc-{i}.md", text.encode())
        ids.append(doc.id)
    return ids


async def _run_workers(url: str, tmp_path: Path, *flags: list[str]) -> list[tuple[int, str, str]]:
    go = tmp_path / "go"
    go.unlink(missing_ok=True)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            url,
            str(go),
            *extra,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for extra in flags
    ]
    await start_together(procs, go)
    async with asyncio.timeout(150):
        outputs = [await proc.communicate() for proc in procs]
    return [
        (proc.returncode or 0, out.decode(), err.decode())
        for proc, (out, err) in zip(procs, outputs, strict=True)
    ]


async def test_two_processes_ingest_every_document_exactly_once(
    migrated_db: Database, hash_embeddings: EmbeddingModel, tmp_path: Path
) -> None:
    ids = await _queue(migrated_db, hash_embeddings, DOCUMENTS)
    url = migrated_db.url.render_as_string(hide_password=False)
    results = await _run_workers(url, tmp_path, [], [])
    for code, _out, err in results:
        assert code == 0, err
    per_process = [json.loads(out) for _code, out, _err in results]
    finished = Counter(doc for done in per_process for doc in done)
    assert set(finished) == set(ids)
    assert max(finished.values()) == 1  # nobody finished a document twice
    assert all(per_process), per_process  # both processes really took part

    async with migrated_db.session() as session:
        docs = (await session.execute(select(Document.status, Document.attempts))).all()
        chunk_rows = await session.scalar(select(func.count(Chunk.id)))
        distinct = await session.scalar(
            select(func.count()).select_from(
                select(Chunk.document_id, Chunk.chunk_index).distinct().subquery()
            )
        )
    assert {status for status, _ in docs} == {DocumentStatus.INDEXED}
    assert {attempts for _, attempts in docs} == {1}  # claimed once each
    assert chunk_rows == distinct  # no chunk written twice


async def test_a_job_left_by_a_dead_process_is_taken_back_and_done_once(
    migrated_db: Database, hash_embeddings: EmbeddingModel, tmp_path: Path
) -> None:
    (doc_id,) = await _queue(migrated_db, hash_embeddings, 1)
    url = migrated_db.url.render_as_string(hide_password=False)
    ((code, _out, _err),) = await _run_workers(url, tmp_path, ["--crash"])
    assert code == 9  # died holding the claim
    async with migrated_db.session() as session:
        status = await session.scalar(select(Document.status).where(Document.id == doc_id))
    assert status in DocumentStatus.in_progress()

    # Another process, once the dead one's heartbeat is stale (0 s here), takes it back.
    results = await _run_workers(url, tmp_path, ["--stale-now"])
    assert results[0][0] == 0, results[0][2]
    assert json.loads(results[0][1]) == [doc_id]
    async with migrated_db.session() as session:
        status, attempts = (
            await session.execute(
                select(Document.status, Document.attempts).where(Document.id == doc_id)
            )
        ).one()
    assert (status, attempts) == (DocumentStatus.INDEXED, 2)
