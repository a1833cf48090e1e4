"""Knowledge settings: upload limits, chunk sizes, ingestion batching and retrieval defaults.

Read from the environment with the ``SNAPAGENT_KNOWLEDGE_`` prefix, e.g.
``SNAPAGENT_KNOWLEDGE_MAX_UPLOAD_BYTES=52428800``. A knowledge base stores its own chunk sizes
and embedding model when it is created; these are the defaults for new ones.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KnowledgeSettings", "get_knowledge_settings"]


class KnowledgeSettings(BaseSettings):
    """Defaults for knowledge bases, ingestion and retrieval.

    >>> KnowledgeSettings(max_upload_bytes=1024).max_upload_bytes
    1024
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_KNOWLEDGE_", extra="ignore")

    max_upload_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
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
    # pgvector HNSW: candidates examined per query; raised for filtered (multi-KB) searches.
    hnsw_ef_search: int = Field(default=100, ge=10, le=1000)


@lru_cache(maxsize=1)
def get_knowledge_settings() -> KnowledgeSettings:
    return KnowledgeSettings()
