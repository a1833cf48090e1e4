"""What the retrieval benchmarks run against: the product's service, or its modules composed.

``modules`` is parse -> chunk -> `BM25Index` / `VectorIndex` -> `fuse`, the same calls and the
same defaults the product's retriever makes, without a database. ``service`` goes through
`KnowledgeService`: real background ingestion into a temporary SQLite database.

`EmbeddingCache` keeps vectors between runs (``bench/results/embeddings-*.sqlite``, keyed by
model, kind and text): embedding KorQuAD's 3,300 chunks with the local model takes a quarter of
an hour of CPU, tuning fusion takes seconds. A cached vector is the model's own output, so the
quality figures are the same with or without it; speed is measured by the scripts that say so.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

import _korquad
from snapagent.knowledge.chunking import chunk_document
from snapagent.knowledge.fusion import FusionConfig, fuse
from snapagent.knowledge.keyword import BM25Index
from snapagent.knowledge.parsing import parse_document
from snapagent.knowledge.vector_index import VectorIndex

Mode = Literal["keyword", "vector", "hybrid"]
MAX_TOKENS = 256
OVERLAP_TOKENS = 32


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    score: float
    article: int
    text: str


@dataclass(frozen=True, slots=True)
class IngestStats:
    chunks: int
    embed_seconds: float


class Backend(Protocol):
    name: str
    model_id: str
    embeddings: TimedEmbeddings

    async def ingest(self, articles: Sequence[_korquad.Article]) -> IngestStats: ...

    async def prefetch_queries(self, texts: Sequence[str]) -> None: ...

    async def hits(self, query: str, mode: Mode, top_k: int) -> list[Hit]: ...

    async def close(self) -> None: ...


async def search(backend: Backend, query: str, mode: Mode, top_k: int) -> list[tuple[int, str]]:
    return [(hit.article, hit.text) for hit in await backend.hits(query, mode, top_k)]


async def search_fused(
    backend: Backend, query: str, top_k: int, config: FusionConfig
) -> list[tuple[int, str]]:
    """Fuse the backend's own keyword and vector lists with ``config`` (no language gating)."""
    n = config.candidates(top_k)
    keyword = {h.key: h for h in await backend.hits(query, "keyword", n)}
    vector = {h.key: h for h in await backend.hits(query, "vector", n)}
    fused = fuse(
        [(k, h.score) for k, h in keyword.items()],
        [(k, h.score) for k, h in vector.items()],
        config,
    )
    by_key = keyword | vector
    return [(by_key[k].article, by_key[k].text) for k, _ in fused[:top_k]]


class EmbeddingCache:
    """Vectors by (model, "query"/"passage", sha256 of the text) in a SQLite file."""

    def __init__(self, path: Path, model_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT, kind TEXT, digest TEXT, "
            "vector BLOB, PRIMARY KEY (model, kind, digest))"
        )
        self._model = model_id
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

    def get(self, kind: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        found: list[np.ndarray | None] = []
        for text in texts:
            row = self._db.execute(
                "SELECT vector FROM vectors WHERE model = ? AND kind = ? AND digest = ?",
                (self._model, kind, self._digest(text)),
            ).fetchone()
            found.append(None if row is None else np.frombuffer(row[0], dtype=np.float32))
        self.hits += sum(v is not None for v in found)
        self.misses += sum(v is None for v in found)
        return found

    def put(self, kind: str, texts: Sequence[str], vectors: Any) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)",
            [
                (self._model, kind, self._digest(t), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vectors, strict=True)
            ],
        )
        self._db.commit()


class TimedEmbeddings:
    """Wraps the product's embedding model: times document embedding, caches query vectors
    (the benchmark asks each question in several modes; embedding time is reported apart) and,
    with an `EmbeddingCache`, every vector between runs."""

    def __init__(self, model: Any, cache: EmbeddingCache | None = None) -> None:
        self._model = model
        self._cache = cache
        self.embed_seconds = 0.0
        self.query_seconds: list[float] = []
        self._queries: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:  # model_id, dimension, languages, count_tokens
        return getattr(self._model, name)

    @property
    def cache(self) -> EmbeddingCache | None:
        return self._cache

    async def embed_documents(self, texts: Sequence[str]) -> Any:
        started = time.perf_counter()
        try:
            if self._cache is None:
                return await self._model.embed_documents(texts)
            found = self._cache.get("passage", texts)
            todo = [i for i, v in enumerate(found) if v is None]
            if todo:
                fresh = await self._model.embed_documents([texts[i] for i in todo])
                self._cache.put("passage", [texts[i] for i in todo], fresh)
                for i, vector in zip(todo, fresh, strict=True):
                    found[i] = vector
            return np.stack(found) if found else np.zeros((0, self._model.dimension))
        finally:
            self.embed_seconds += time.perf_counter() - started

    async def prefetch_queries(self, texts: Sequence[str]) -> None:
        """Embed many questions concurrently (same vectors: models that batch questions, such as
        the default, embed them together; the others one by one)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._queries]
        if self._cache is not None:
            for text, vector in zip(todo, self._cache.get("query", todo), strict=True):
                if vector is not None:
                    self._queries[text] = vector
            todo = [t for t in todo if t not in self._queries]
        for start in range(0, len(todo), 64):
            batch = todo[start : start + 64]
            vectors = await asyncio.gather(*(self._model.embed_query(t) for t in batch))
            self._queries.update(zip(batch, vectors, strict=True))
            if self._cache is not None:
                self._cache.put("query", batch, vectors)

    async def embed_query(self, text: str) -> Any:
        vector = self._queries.get(text)
        if vector is None:
            started = time.perf_counter()
            vector = self._queries[text] = await self._model.embed_query(text)
            self.query_seconds.append(time.perf_counter() - started)
        return vector


class ModulesBackend:
    """The product's retrieval modules composed in memory, with the product's embedding model."""

    name = "modules"

    def __init__(self, embeddings: TimedEmbeddings, fusion: FusionConfig | None = None) -> None:
        self.embeddings = embeddings
        self.model_id = str(embeddings.model_id)
        self._languages = getattr(embeddings, "languages", None)
        self._fusion = fusion or FusionConfig()
        self._keyword = BM25Index()
        self._vector = VectorIndex(int(embeddings.dimension))
        self._chunks: dict[str, tuple[int, str]] = {}

    async def ingest(self, articles: Sequence[_korquad.Article]) -> IngestStats:
        keyword_texts = []
        for article in articles:
            parsed = parse_document(article.markdown().encode(), article.filename)
            drafts = chunk_document(
                parsed, self.embeddings.count_tokens, MAX_TOKENS, OVERLAP_TOKENS
            )
            for draft in drafts:
                self._chunks[f"{article.index}:{draft.index}"] = (article.index, draft.text)
                # As the product's index cache does: headings are searchable too.
                keyword_texts.append(
                    f"{draft.heading}\n{draft.text}" if draft.heading else draft.text
                )
        keys = list(self._chunks)
        texts = [self._chunks[k][1] for k in keys]
        self._keyword.add(keys, keyword_texts)
        vectors = await self.embeddings.embed_documents(texts)
        self._vector.add(keys, np.asarray(vectors, dtype=np.float32))
        return IngestStats(len(keys), self.embeddings.embed_seconds)

    async def prefetch_queries(self, texts: Sequence[str]) -> None:
        await self.embeddings.prefetch_queries(texts)

    async def hits(self, query: str, mode: Mode, top_k: int) -> list[Hit]:
        if mode == "keyword":
            scored = self._keyword.search(query, top_k)
        elif mode == "vector":
            scored = self._vector.search(await self.embeddings.embed_query(query), top_k)
        else:
            config = self._fusion.for_query(query, self._languages)
            n = config.candidates(top_k)
            keyword = self._keyword.search(query, n)
            vector = (
                self._vector.search(await self.embeddings.embed_query(query), n)
                if config.uses_vector
                else []
            )
            scored = fuse(keyword, vector, config)[:top_k]
        return [Hit(k, s, *self._chunks[k]) for k, s in scored]

    async def close(self) -> None:
        return None


def product_embedding_model(spec: str | None = None) -> Any:
    """The embedding model the product resolves for ``spec`` (None: the default model)."""
    from snapagent.llm.registry import get_embedding_model

    return get_embedding_model(spec)


class ServiceBackend:
    """`KnowledgeService` on a temporary SQLite database: upload, background ingestion, query."""

    name = "service"

    def __init__(self, embeddings: TimedEmbeddings, workdir: Path) -> None:
        self.embeddings = embeddings
        self.model_id = str(embeddings.model_id)
        self._workdir = workdir
        self._service: Any = None
        self._owner = ""
        self._kb = ""
        self._article_of: dict[str, int] = {}

    async def ingest(self, articles: Sequence[_korquad.Article]) -> IngestStats:
        from snapagent.db.migrate import upgrade
        from snapagent.db.session import Database
        from snapagent.services.knowledge import KnowledgeService

        db = Database(f"sqlite+aiosqlite:///{self._workdir / 'bench.db'}")
        await upgrade(db)
        self._service = service = KnowledgeService(db, embeddings=lambda spec: self.embeddings)
        service.start()
        self._owner = await service.ensure_user("bench@example.com")
        kb = await service.create_knowledge_base(
            self._owner, "korquad", embedding_model=self.model_id
        )
        self._kb = kb.id
        ids = []
        for article in articles:
            info = await service.add_document(
                self._owner,
                self._kb,
                article.filename,
                article.markdown().encode(),
                content_type="text/markdown",
            )
            self._article_of[info.id] = article.index
            ids.append(info.id)
        done = await service.wait_for_documents(ids)
        failed = [d.filename for d in done if d.status != "indexed"]
        if failed:
            raise SystemExit(f"ingestion failed for {failed}")
        chunks = sum(d.chunks_total for d in done)
        return IngestStats(chunks, self.embeddings.embed_seconds)

    async def prefetch_queries(self, texts: Sequence[str]) -> None:
        await self.embeddings.prefetch_queries(texts)

    async def hits(self, query: str, mode: Mode, top_k: int) -> list[Hit]:
        found = await self._service.query(self._owner, [self._kb], query, top_k=top_k, mode=mode)
        return [Hit(d.chunk_id, d.score, self._article_of[d.document_id], d.text) for d in found]

    async def documents(self, query: str, top_k: int, article: int) -> list[Any]:
        """The retrieved documents (`RetrievedDocument`) of ``article`` alone, as if the
        knowledge base held only that article."""
        document_ids = [doc_id for doc_id, index in self._article_of.items() if index == article]
        return list(
            await self._service.query(
                self._owner, [self._kb], query, top_k=top_k, document_ids=document_ids
            )
        )

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
            await self._service.db.dispose()


async def make_backend(
    kind: str, workdir: Path, spec: str | None = None, cache_dir: Path | None = None
) -> Backend:
    model = product_embedding_model(spec)
    cache = None
    if cache_dir is not None:
        name = str(model.model_id).replace(":", "-").replace("/", "-")
        cache = EmbeddingCache(cache_dir / f"embeddings-{name}.sqlite", str(model.model_id))
    embeddings = TimedEmbeddings(model, cache)
    if kind == "modules":
        return ModulesBackend(embeddings)
    return ServiceBackend(embeddings, workdir)
