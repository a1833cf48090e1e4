"""The quotable sentences of a text, analysed once: what the extractive answerer compares.

For every document it answers from, the offline answerer splits the text into sentences
(`snapagent.llm.sentences`) and turns each into relevance features
(`snapagent.llm.relevance.features`) - about two thirds of its work, and the same work for the
same chunk on every question a RAG bot is asked. `SentenceCache` keeps the result per
(text, heading lines) - bounded, least recently used out first, safe to share between the
worker threads answers run in (``SNAPAGENT_OFFLINE_SENTENCE_CACHE`` entries; 0 turns it off).

It is keyed by the text itself, not by a document id: an entry is exactly what that text
yields, so a hit gives a caller only what its own documents would have given (nothing crosses
between accounts, whatever ids a request names), and an edited or re-ingested document is new
text - a new key - while what it replaced ages out.

    cache = SentenceCache(max_entries=1024)
    for sentence in cache.sentences(chunk_text, ("Install", "Guide")):
        sentence.text, sentence.features, sentence.korean
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence, Set
from dataclasses import dataclass

from snapagent.llm.relevance import features, has_hangul
from snapagent.llm.sentences import split_sentences

__all__ = ["Sentence", "SentenceCache", "analyse"]


@dataclass(frozen=True, slots=True)
class Sentence:
    """One quotable sentence with what scoring reads of it."""

    text: str
    # The very set `features` made (never changed): scores sum over it in its own order, so
    # answers are the same to the last bit as when it is computed afresh.
    features: Set[str]
    joined: str  # lower-cased, whitespace removed: where the question's phrases are looked for
    korean: bool


def analyse(text: str, skip: Sequence[str] = ()) -> tuple[Sentence, ...]:
    """The quotable sentences of ``text`` (``skip``: heading lines), analysed."""
    return tuple(
        Sentence(s, features(s), "".join(s.lower().split()), has_hangul(s))
        for s in split_sentences(text, skip=skip)
    )


class SentenceCache:
    """`analyse` with a bounded memory of its last ``max_entries`` texts (see the module)."""

    def __init__(self, max_entries: int = 1024) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, tuple[str, ...]], tuple[Sentence, ...]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def sentences(self, text: str, skip: tuple[str, ...] = ()) -> tuple[Sentence, ...]:
        if self.max_entries <= 0:
            return analyse(text, skip)
        key = (text, skip)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        found = analyse(text, skip)  # outside the lock: other answers go on meanwhile
        with self._lock:
            self._entries[key] = found
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return found
