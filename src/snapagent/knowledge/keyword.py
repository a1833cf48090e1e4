"""An incremental, in-memory BM25 index over keyword terms (Korean bigrams + Latin words).

Postings are kept per term as compact ``array('i')`` slot lists with ``array('H')`` term
frequencies: appending a document is O(its terms), and a query turns each posting list into a
numpy view without copying, then scores every candidate in one vectorised pass (``bincount``
accumulates the per-term contributions). Removal only marks the slot dead; document frequency,
the live document count and the average length are computed from live slots, so scores never
drift. Dead slots are compacted away once they make up half of the index.

    >>> index = BM25Index()
    >>> index.add(["a", "b"], ["서울은 한국의 수도이다", "부산은 항구 도시이다"])
    >>> [doc_id for doc_id, _ in index.search("한국 수도", top_k=1)]
    ['a']

The index is safe to share between threads: a lock serialises writes with searches.
"""

from __future__ import annotations

import threading
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from snapagent.errors import InputValidationError
from snapagent.knowledge.tokenize import keyword_terms

__all__ = ["BM25Index"]

_MAX_TF = 65535  # term frequencies are stored as uint16


class BM25Index:
    """BM25 (Okapi, with the non-negative Lucene idf) over string ids.

    ``k1`` saturates term frequency, ``b`` normalises by document length. Adding an id that is
    already present replaces its document.
    """

    def __init__(
        self,
        *,
        k1: float = 1.2,
        b: float = 0.75,
        tokenizer: Callable[[str], list[str]] = keyword_terms,
    ) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise InputValidationError("k1 must be >= 0 and b within [0, 1]", field="k1/b")
        self._k1 = k1
        self._b = b
        self._tokenize = tokenizer
        self._lock = threading.Lock()
        self._term_ids: dict[str, int] = {}
        self._post_slots: list[array[int]] = []
        self._post_tfs: list[array[int]] = []
        self._slot_of: dict[str, int] = {}
        self._ids: list[str | None] = []  # slot -> id, None when dead
        self._lengths = np.zeros(64, dtype=np.float32)  # slot -> document length in terms
        self._alive = np.zeros(64, dtype=bool)
        self._live_total_length = 0.0
        self._dead = 0

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot_of

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index ``texts`` under ``ids`` (replacing any document already stored under an id)."""
        if len(ids) != len(texts):
            raise InputValidationError(f"got {len(ids)} ids for {len(texts)} texts", field="ids")
        if len(set(ids)) != len(ids):
            raise InputValidationError("ids must be unique within one add()", field="ids")
        tokenized = [Counter(self._tokenize(text)) for text in texts]  # outside the lock
        with self._lock:
            self._remove_locked(ids)
            for doc_id, counts in zip(ids, tokenized, strict=True):
                self._add_locked(doc_id, counts)

    def remove(self, ids: Collection[str]) -> None:
        """Forget the documents stored under ``ids``; unknown ids are ignored."""
        with self._lock:
            self._remove_locked(ids)
            if self._dead > 1024 and self._dead * 2 > len(self._ids):
                self._compact_locked()

    def search(
        self, query: str, top_k: int = 10, allowed_ids: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``top_k`` best (id, score) pairs for ``query``, best first; only positive scores.

        ``allowed_ids`` restricts the result to those ids (a document filter).
        """
        if top_k <= 0:
            return []
        query_terms = set(self._tokenize(query))
        with self._lock:
            return self._search_locked(query_terms, top_k, allowed_ids)

    # -- internals (lock held) -------------------------------------------------------------

    def _add_locked(self, doc_id: str, counts: Counter[str]) -> None:
        slot = len(self._ids)
        if slot == len(self._lengths):
            self._lengths = _grown(self._lengths)
            self._alive = _grown(self._alive)
        self._ids.append(doc_id)
        self._slot_of[doc_id] = slot
        length = float(sum(counts.values()))
        self._lengths[slot] = length
        self._alive[slot] = True
        self._live_total_length += length
        for term, tf in counts.items():
            term_id = self._term_ids.get(term)
            if term_id is None:
                term_id = self._term_ids[term] = len(self._post_slots)
                self._post_slots.append(array("i"))
                self._post_tfs.append(array("H"))
            self._post_slots[term_id].append(slot)
            self._post_tfs[term_id].append(min(tf, _MAX_TF))

    def _remove_locked(self, ids: Collection[str]) -> None:
        for doc_id in ids:
            slot = self._slot_of.pop(doc_id, None)
            if slot is None:
                continue
            self._ids[slot] = None
            self._alive[slot] = False
            self._live_total_length -= float(self._lengths[slot])
            self._dead += 1

    def _search_locked(
        self, query_terms: set[str], top_k: int, allowed_ids: Collection[str] | None
    ) -> list[tuple[str, float]]:
        live = len(self._slot_of)
        if live == 0 or not query_terms:
            return []
        n_slots = len(self._ids)
        alive = self._alive[:n_slots]
        avg_length = max(self._live_total_length / live, 1e-9)
        norm = self._k1 * (1.0 - self._b + self._b * self._lengths[:n_slots] / avg_length)
        slot_parts: list[npt.NDArray[Any]] = []
        weight_parts: list[npt.NDArray[Any]] = []
        for term in query_terms:
            term_id = self._term_ids.get(term)
            if term_id is None:
                continue
            slots = np.frombuffer(self._post_slots[term_id], dtype=np.int32)
            tfs = np.frombuffer(self._post_tfs[term_id], dtype=np.uint16).astype(np.float32)
            doc_freq = int(np.count_nonzero(alive[slots])) if self._dead else len(slots)
            if doc_freq == 0:
                continue
            idf = np.float32(np.log1p((live - doc_freq + 0.5) / (doc_freq + 0.5)))
            weight_parts.append(idf * tfs * (self._k1 + 1.0) / (tfs + norm[slots]))
            slot_parts.append(slots)
        if not slot_parts:
            return []
        scores = np.bincount(
            np.concatenate(slot_parts), np.concatenate(weight_parts), minlength=n_slots
        )
        if self._dead:
            scores[~alive] = 0.0
        if allowed_ids is not None:
            mask = np.zeros(n_slots, dtype=bool)
            allowed_slots = [s for s in map(self._slot_of.get, allowed_ids) if s is not None]
            mask[allowed_slots] = True
            scores[~mask] = 0.0
        return self._top(scores, top_k)

    def _top(self, scores: npt.NDArray[Any], top_k: int) -> list[tuple[str, float]]:
        candidates = np.flatnonzero(scores > 0.0)
        if len(candidates) > top_k:
            part = np.argpartition(scores[candidates], len(candidates) - top_k)
            candidates = candidates[part[-top_k:]]
        # Highest score first; ties broken by insertion order so results are deterministic.
        order = np.lexsort((candidates, -scores[candidates]))
        result: list[tuple[str, float]] = []
        for slot in candidates[order]:
            doc_id = self._ids[slot]
            if doc_id is not None:
                result.append((doc_id, float(scores[slot])))
        return result

    def _compact_locked(self) -> None:
        """Drop dead slots from every posting list and renumber the live ones densely."""
        n_slots = len(self._ids)
        alive = self._alive[:n_slots]
        new_slot = np.cumsum(alive, dtype=np.int64) - 1
        for term_id, slot_list in enumerate(self._post_slots):
            slots = np.frombuffer(slot_list, dtype=np.int32)
            keep = alive[slots]
            tfs = np.frombuffer(self._post_tfs[term_id], dtype=np.uint16)[keep]
            new = new_slot[slots[keep]].astype(np.int32)
            self._post_slots[term_id] = array("i", new.tobytes())
            self._post_tfs[term_id] = array("H", tfs.tobytes())
        live_ids = [doc_id for doc_id in self._ids if doc_id is not None]
        self._lengths = _grown(self._lengths[:n_slots][alive], len(live_ids) + 64)
        self._alive = np.zeros(len(self._lengths), dtype=bool)
        self._alive[: len(live_ids)] = True
        self._ids = list(live_ids)
        self._slot_of = {doc_id: slot for slot, doc_id in enumerate(live_ids)}
        self._dead = 0


def _grown(values: npt.NDArray[Any], capacity: int | None = None) -> npt.NDArray[Any]:
    """A copy of ``values`` in a buffer of ``capacity`` (default: double) zero-filled slots."""
    new = np.zeros(capacity or max(64, 2 * len(values)), dtype=values.dtype)
    new[: len(values)] = values
    return new
