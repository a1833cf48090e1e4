"""Bounded caches of what every request would read again: its credential, its bot and the
knowledge bases its retrieval reads.

A `LookupCache` holds immutable snapshots of one kind (credentials, bots, knowledge-base rows),
each valid only while the database's `~snapagent.db.lookup_changes.LookupChanges` generation
of that kind is the one read *before* the snapshot was loaded: a write that stales the kind
(users or API keys for credentials, bots or versions for bots, knowledge bases for their rows;
users for all three) committed anywhere - this process, another worker, another replica, the
CLI - empties it, and leaves the caches of other kinds alone (see that module for how, and
docs/performance.md for the windows). While the generation is unknowable
(PostgreSQL's listener down) every lookup goes to the database. Misses are never cached, so an
unknown key or another owner's bot costs what it did before; entries are bounded in number
(oldest out first) and in age (``ttl_s``).

    cache = LookupCache(db.lookup_changes, "bots", max_entries=1000, ttl_s=60)
    found = cache.get(key)
    if found is None:
        tag = cache.tag()                  # BEFORE reading: a change meanwhile voids the copy
        found = await load(key)
        cache.put(key, tag, found)
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Generic, TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.db.lookup_changes import LookupChanges, LookupKind

__all__ = ["LookupCache", "LookupCacheSettings"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LookupCacheSettings(BaseSettings):
    """The request caches (environment: ``SNAPAGENT_LOOKUP_CACHE_*``)."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_LOOKUP_CACHE_", extra="ignore")

    enabled: bool = Field(
        default=True, description="Cache credentials and bots (false: read them every request)."
    )
    credentials: int = Field(
        default=10_000, ge=0, le=1_000_000, description="API keys and users held per process."
    )
    bots: int = Field(
        default=2_000, ge=0, le=1_000_000, description="Bots (with their live version) held."
    )
    knowledge_bases: int = Field(
        default=2_000,
        ge=0,
        le=1_000_000,
        description="Knowledge-base rows (revision, model, retrieval settings) a retrieval "
        "reads, held per (owner, knowledge base).",
    )
    ttl_s: float = Field(
        default=60.0,
        gt=0,
        le=86_400,
        description="Longest a snapshot is used; bounds what no announcement covers (a writer "
        "killed mid-commit, raw SQL, other programs' writes).",
    )
    listen_check_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="PostgreSQL: how often the listening connection is checked alive.",
    )


class LookupCache(Generic[K, V]):
    """See the module docstring. One per kind of lookup and process; not thread-safe (the
    event loop's)."""

    __slots__ = ("_changes", "_entries", "_generation", "kind", "max_entries", "ttl_s")

    def __init__(
        self, changes: LookupChanges, kind: LookupKind, *, max_entries: int, ttl_s: float
    ) -> None:
        self._changes = changes
        self.kind = kind
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: dict[K, tuple[float, V]] = {}
        self._generation: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def tag(self) -> int | None:
        """The generation now (read it before loading what you will `put`); ``None``: do not
        cache. Entries of an earlier generation are dropped here."""
        generation = self._changes.generation(self.kind)
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        return generation

    def get(self, key: K) -> V | None:
        if self.tag() is None:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, tag: int | None, value: V) -> None:
        """Keep ``value``, loaded after `tag` returned ``tag`` - unless something changed
        since (then it may be stale already) or caching is off."""
        if tag is None or self.tag() != tag or self.max_entries == 0:
            return
        entries = self._entries
        if key not in entries and len(entries) >= self.max_entries:
            del entries[next(iter(entries))]  # the oldest insertion
        entries[key] = (time.monotonic() + self.ttl_s, value)

    def replace(self, key: K, value: V) -> None:
        """Swap a held entry's value (same age; nothing if it is gone)."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], value)

    def clear(self) -> None:
        self._entries.clear()
