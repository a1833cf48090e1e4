"""Splitting a parsed document into retrieval chunks sized in the embedding model's tokens.

Structure first, tokens last: every heading starts a new chunk (it stays at the top of the
chunk it introduces); paragraphs, list items and table rows of one section are packed together
up to ``max_tokens``; a block too long for one chunk is split at sentence ends (Korean endings
such as "다." "요." "까?" included, also when the next sentence follows without a space), and
only a sentence longer than a chunk is cut at word boundaries (or between characters for text
without spaces). Consecutive chunks of one section share about ``overlap_tokens`` tokens so an
answer on a boundary is whole in at least one chunk.

Every chunk is an exact slice ``parsed.text[char_start:char_end]`` and keeps its heading path,
which is what a citation needs. The output depends only on the input: same document, same
chunks.

    >>> from snapagent.knowledge.parsing import parse_document
    >>> doc = parse_document("# 개요\\n\\n서울은 수도이다. 부산은 항구이다.".encode(), "a.md")
    >>> [(c.heading, c.text) for c in chunk_document(doc, lambda t: len(t.split()))]
    [('개요', '개요\\n\\n서울은 수도이다. 부산은 항구이다.')]
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from snapagent.errors import InputValidationError
from snapagent.knowledge.parsing import BLOCK_SEPARATOR, ParsedDocument

__all__ = ["HEADING_SEPARATOR", "ChunkDraft", "chunk_document", "split_sentences"]

HEADING_SEPARATOR = " > "
TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class ChunkDraft:
    """One chunk before it is stored: ``text == parsed.text[char_start:char_end]``.

    ``heading`` is the heading path joined with " > " (None before the first heading);
    ``page`` is the PDF page the chunk starts on.
    """

    index: int
    text: str
    heading: str | None
    token_count: int
    char_start: int
    char_end: int
    page: int | None = None


@dataclass(slots=True)
class _Unit:
    """A piece that is never split further: a block, a sentence or a token window."""

    start: int
    end: int
    tokens: int
    section: int  # index of the heading section the unit belongs to
    is_heading: bool
    heading: str | None
    page: int | None


def chunk_document(
    parsed: ParsedDocument,
    count_tokens: TokenCounter,
    max_tokens: int = 256,
    overlap_tokens: int = 32,
) -> list[ChunkDraft]:
    """Chunks of at most ``max_tokens`` tokens (by ``count_tokens``) in reading order."""
    if max_tokens < 8:
        raise InputValidationError("max_tokens must be at least 8", field="max_tokens")
    if not 0 <= overlap_tokens <= max_tokens // 2:
        raise InputValidationError(
            "overlap_tokens must be between 0 and half of max_tokens", field="overlap_tokens"
        )
    splitter = _Splitter(parsed.text, count_tokens, max_tokens, overlap_tokens)
    return _pack(splitter, list(_units(parsed, splitter)))


def _units(parsed: ParsedDocument, splitter: _Splitter) -> list[_Unit]:
    units: list[_Unit] = []
    section = 0
    for block, start in zip(parsed.blocks, parsed.block_offsets, strict=True):
        is_heading = block.kind == "heading"
        section += is_heading
        heading = HEADING_SEPARATOR.join(block.heading_path) or None
        end = start + len(block.text)
        tokens = splitter.count(start, end)
        spans = [(start, end, tokens)] if tokens <= splitter.max_tokens else None
        if spans is None:
            spans = []
            for s_start, s_end in split_sentences(parsed.text, start, end):
                s_tokens = splitter.count(s_start, s_end)
                if s_tokens <= splitter.max_tokens:
                    spans.append((s_start, s_end, s_tokens))
                else:
                    spans.extend(splitter.windows(s_start, s_end))
        for u_start, u_end, u_tokens in spans:
            units.append(_Unit(u_start, u_end, u_tokens, section, is_heading, heading, block.page))
    return units


def _pack(splitter: _Splitter, units: list[_Unit]) -> list[ChunkDraft]:
    chunks: list[ChunkDraft] = []
    current: list[_Unit] = []
    overlap_start: int | None = None  # where the current chunk starts when it opens with overlap
    budget = 0
    separator_tokens = 1  # a block/sentence boundary costs about one token at most

    def emit() -> None:
        content = [u for u in current if not u.is_heading] or current
        start = current[0].start if overlap_start is None else overlap_start
        end = current[-1].end
        text = splitter.text[start:end]
        chunks.append(
            ChunkDraft(
                index=len(chunks),
                text=text,
                heading=content[0].heading,
                token_count=splitter.count(start, end),
                char_start=start,
                char_end=end,
                page=current[0].page,
            )
        )

    for unit in units:
        only_headings = all(u.is_heading for u in current)
        new_section = bool(current) and unit.section != current[-1].section and not only_headings
        too_big = bool(current) and budget + separator_tokens + unit.tokens > splitter.max_tokens
        if new_section or too_big:
            previous = current[-1]
            emit()
            current, budget, overlap_start = [], 0, None
            room = min(splitter.overlap, splitter.max_tokens - unit.tokens - separator_tokens)
            if too_big and not new_section and not previous.is_heading:
                overlap_start = splitter.tail_start(previous.start, previous.end, room)
                if overlap_start is not None:
                    budget = splitter.count(overlap_start, previous.end) + separator_tokens
        current.append(unit)
        budget += unit.tokens + (separator_tokens if len(current) > 1 else 0)
    if current:
        emit()
    return chunks


class _Splitter:
    """Token counting over slices of the document text, and token-bounded cutting."""

    def __init__(self, text: str, count: TokenCounter, max_tokens: int, overlap: int) -> None:
        self.text = text
        self._count = count
        self.max_tokens = max_tokens
        self.overlap = overlap

    def count(self, start: int, end: int) -> int:
        return self._count(self.text[start:end])

    def windows(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """Cut ``[start, end)`` into windows of <= max_tokens that overlap by ~overlap tokens."""
        cuts = _cut_points(self.text, start, end)
        windows: list[tuple[int, int, int]] = []
        position = start
        while position < end:
            first = bisect_right(cuts, position)
            # Largest cut whose window still fits; at least one cut so the loop advances.
            low, high = first, len(cuts) - 1
            while low < high:
                middle = (low + high + 1) // 2
                if self.count(position, cuts[middle]) <= self.max_tokens:
                    low = middle
                else:
                    high = middle - 1
            cut = cuts[low]
            windows.append((position, cut, self.count(position, cut)))
            if cut >= end:
                break
            tail = self.tail_start(position, cut, self.overlap)
            position = tail if tail is not None and tail > position else cut
            while position < end and self.text[position].isspace():
                position += 1
        return windows

    def tail_start(self, start: int, end: int, budget: int) -> int | None:
        """The earliest boundary in ``[start, end)`` whose tail up to ``end`` has at most
        ``budget`` tokens (None if no non-empty tail fits)."""
        if budget <= 0:
            return None
        cuts = [c for c in _cut_points(self.text, start, end) if c < end]
        starts = [start, *cuts]
        low, high = 0, len(starts)  # find the first start whose tail fits
        while low < high:
            middle = (low + high) // 2
            if self.count(starts[middle], end) <= budget:
                high = middle
            else:
                low = middle + 1
        if low == len(starts):
            return None
        position = starts[low]
        while position < end and self.text[position].isspace():
            position += 1
        return position if position < end else None


_WORD_END = re.compile(r"\S(?=\s)|\S$")
_MAX_WORD = 8  # characters: a longer "word" (CJK without spaces, a URL) may be cut inside


def _cut_points(text: str, start: int, end: int) -> list[int]:
    """Sorted positions in ``(start, end]`` where a window may end: after words, and every
    ``_MAX_WORD`` characters inside a long word."""
    points: list[int] = []
    previous = start
    for match in _WORD_END.finditer(text, start, end):
        word_end = match.end()
        points.extend(range(previous + _MAX_WORD, word_end, _MAX_WORD))
        points.append(word_end)
        previous = word_end
    if not points or points[-1] != end:
        points.extend(range(previous + _MAX_WORD, end, _MAX_WORD))
        points.append(end)
    return points


# Sentence ends: terminal punctuation (plus closing quotes/brackets) before whitespace; Korean
# terminal punctuation glued to the next sentence ("했다.그리고"); line breaks. A period between
# digits ("3.14") or inside Latin abbreviations ("e.g.") followed by no space is not an end.
_SENTENCE_BREAK = re.compile(
    r"(?<=[.!?。！？…])[\"'”’»)\]]*\s+"
    r"|(?<=[\uac00-\ud7a3][.!?])(?=[\uac00-\ud7a3A-Za-z\"'“‘(])"
    r"|\n+"
)


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` within ``text[start:end]``, whitespace trimmed.

    >>> t = "서울은 수도이다.부산은 항구인가? Yes. Pi is 3.14!"
    >>> [t[a:b] for a, b in split_sentences(t)]
    ['서울은 수도이다.', '부산은 항구인가?', 'Yes.', 'Pi is 3.14!']
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    position = start
    for match in _SENTENCE_BREAK.finditer(text, start, end):
        _add_trimmed(text, position, match.start() + _closing_length(match.group()), spans)
        position = match.end()
    _add_trimmed(text, position, end, spans)
    return spans


def _closing_length(separator: str) -> int:
    """Closing quotes/brackets at the start of a separator belong to the sentence."""
    return len(separator) - len(separator.lstrip("\"'”’»)]"))


def _add_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


assert BLOCK_SEPARATOR.isspace()  # chunk slices may span block boundaries
