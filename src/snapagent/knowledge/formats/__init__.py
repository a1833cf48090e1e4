"""Format-specific parsers behind `snapagent.knowledge.parsing.parse_document`.

Each parser returns ``(title or None, blocks)``; `Outline` tracks the heading path. The
parsers import `snapagent.knowledge.parsed` (the model) and never the dispatcher in
`snapagent.knowledge.parsing` (an import-linter contract keeps it so).
"""

from __future__ import annotations

from snapagent.knowledge.parsed import Block, BlockKind

__all__ = ["Outline", "ParseResult", "describe"]

ParseResult = tuple[str | None, list[Block]]


class Outline:
    """The stack of headings above the current position.

    >>> outline = Outline()
    >>> outline.heading("Guide", 1).heading_path
    ('Guide',)
    >>> outline.heading("Install", 2).heading_path, outline.block("paragraph", "x").heading_path
    (('Guide', 'Install'), ('Guide', 'Install'))
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []
        self.blocks: list[Block] = []

    def heading(self, text: str, level: int) -> Block:
        level = min(max(level, 1), 6)
        text = " ".join(text.split())
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if text:
            self._stack.append((level, text))
        block = Block("heading", text, self.path, level)
        self.blocks.append(block)
        return block

    def block(self, kind: BlockKind, text: str, page: int | None = None) -> Block:
        block = Block(kind, text, self.path, 0, page)
        self.blocks.append(block)
        return block

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._stack)


def describe(exc: BaseException) -> str:
    """A library's exception as a short reason: its type and the first line of its message."""
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
