"""Knowledge settings: upload and parsing limits, chunk sizes, ingestion scheduling and
batching, and retrieval defaults.

Read from the environment with the ``SNAPAGENT_KNOWLEDGE_`` prefix, e.g.
``SNAPAGENT_KNOWLEDGE_MAX_UPLOAD_BYTES=52428800``. A knowledge base stores its own chunk sizes
and embedding model when it is created; these are the defaults for new ones.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.knowledge.formats.limits import MIB, ParseLimits

__all__ = ["KnowledgeSettings", "get_knowledge_settings"]


class KnowledgeSettings(BaseSettings):
    """Defaults for knowledge bases, ingestion and retrieval.

    >>> KnowledgeSettings(max_upload_bytes=1024).max_upload_bytes
    1024
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_KNOWLEDGE_", extra="ignore")

    max_upload_bytes: int = Field(default=20 * MIB, gt=0)
    # -- parsing bounds (see snapagent.knowledge.formats.limits) --
    office_max_uncompressed_bytes: int = Field(
        default=128 * MIB, gt=0, description="Total inflated size of a DOCX's zip members."
    )
    office_max_members: int = Field(default=2000, gt=0, description="Members of a DOCX's zip.")
    office_max_compression_ratio: float = Field(
        default=200.0, gt=1, description="Inflated/compressed size of any DOCX member over 1 MB."
    )
    pdf_max_pages: int = Field(default=5000, gt=0, description="Pages of a PDF.")
    pdf_max_stream_bytes: int = Field(
        default=64 * MIB, gt=0, description="Decoded size of any one PDF stream."
    )
    pdf_max_stream_operations: int = Field(
        default=1_000_000, gt=0, description="Operators and operands in one PDF content stream."
    )
    max_nesting_depth: int = Field(
        default=200, ge=1, le=500, description="HTML nesting walked as structure; deeper is text."
    )
    max_text_chars: int = Field(
        default=20_000_000, gt=0, description="Characters of text one document may yield."
    )
    parse_timeout_s: float = Field(
        default=120.0, gt=0, description="Wall-clock deadline of parsing one document."
    )
    parse_memory_bytes: int = Field(
        default=1024 * MIB,
        ge=128 * MIB,
        description="Address space of the worker process that parses a document.",
    )
    upload_check_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Worker processes (besides one per ingestion slot) that parse uploads "
        "while they are answered.",
    )
    upload_check_timeout_s: float = Field(
        default=10.0,
        ge=0,
        description="Time an upload may spend being parsed before it is answered; a file that "
        "takes longer is accepted and parsed in the background (0: no check at upload).",
    )
    # -- ingestion scheduling --
    ingestion_concurrency: int = Field(
        default=3, ge=1, le=64, description="Documents one process ingests at once."
    )
    ingestion_per_account: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Of those, how many one account may hold (below the concurrency: a slot "
        "is always left for another account).",
    )
    default_embedding_model: str = Field(
        default="local:multilingual-e5-small",
        description="Embedding model spec for new knowledge bases (see snapagent.llm).",
    )
    chunk_max_tokens: int = Field(default=256, ge=16, le=8192)
    chunk_overlap_tokens: int = Field(default=32, ge=0, le=1024)
    embed_batch_size: int = Field(default=32, ge=1, le=1024)
    max_attempts: int = Field(
        default=3, ge=1, description="Automatic retries of a crashed ingestion before failing."
    )
    stale_after_seconds: float = Field(
        default=300.0,
        ge=0,
        description="A document in progress with no heartbeat for this long is requeued "
        "(its worker died). Checked at start and every minute.",
    )
    fusion_method: Literal["weighted", "rrf"] = "weighted"
    vector_weight: float = Field(default=0.3, ge=0)
    keyword_weight: float = Field(default=0.7, ge=0)
    candidate_multiplier: int = Field(default=4, ge=1, le=100)
    inline_search_chunks: int = Field(
        default=2000,
        ge=0,
        description="A knowledge base of more chunks is searched (BM25 and the in-memory vector "
        "product) in a worker thread; smaller ones on the event loop, cheaper than the hop.",
    )
    # pgvector HNSW: candidates examined per query; raised for filtered (multi-KB) searches.
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)

    @model_validator(mode="after")
    def _parser_has_room_for_an_upload(self) -> KnowledgeSettings:
        # The worker holds the upload while it is sent and unpacked, then parses it.
        least = 64 * MIB + 3 * self.max_upload_bytes
        if self.parse_memory_bytes < least:
            raise ValueError(
                f"SNAPAGENT_KNOWLEDGE_PARSE_MEMORY_BYTES ({self.parse_memory_bytes}) must be at "
                f"least 64 MiB + 3 x SNAPAGENT_KNOWLEDGE_MAX_UPLOAD_BYTES ({least})"
            )
        return self

    def parse_limits(self) -> ParseLimits:
        """The bounds handed to the parser (in its worker process)."""
        return ParseLimits(**{f.name: getattr(self, f.name) for f in fields(ParseLimits)})


@lru_cache(maxsize=1)
def get_knowledge_settings() -> KnowledgeSettings:
    return KnowledgeSettings()
