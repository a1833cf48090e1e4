"""What parsing produces, shared by the dispatcher and the per-format parsers.

`snapagent.knowledge.parsing` decides which parser applies and cleans its output; the parsers
in `snapagent.knowledge.formats` build `Block` lists and raise `DocumentParseError`. Both
import this module and neither imports the other's internals, so the two packages form a
layer (parsing -> formats -> parsed), not a cycle.

    >>> doc = ParsedDocument("Guide", "markdown", (Block("heading", "Guide", ("Guide",), 1),))
    >>> doc.text, doc.block_offsets
    ('Guide', (0,))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from snapagent.errors import InputValidationError

__all__ = [
    "BLOCK_SEPARATOR",
    "Block",
    "BlockKind",
    "DocumentFormat",
    "DocumentLimitError",
    "DocumentParseError",
    "ParsedDocument",
]

BlockKind = Literal["heading", "paragraph", "list_item", "table_row", "code"]
DocumentFormat = Literal["text", "markdown", "html", "pdf", "docx"]
BLOCK_SEPARATOR = "\n\n"


class DocumentParseError(InputValidationError):
    """A file could not be read: corrupt, empty, encrypted or undecodable.

    ``filename`` and ``reason`` are also in ``details`` for the API/CLI to show.
    """

    def __init__(self, filename: str, reason: str, **details: object) -> None:
        super().__init__(
            f"cannot read {filename!r}: {reason}",
            field="file",
            details={"filename": filename, "reason": reason, **details},
        )
        self.filename = filename
        self.reason = reason

    def __reduce__(self) -> tuple[object, ...]:
        # Parsing runs in a worker process: the error must survive pickling with its details.
        extra = {k: v for k, v in self.details.items() if k not in ("filename", "reason")}
        return (_rebuild, (type(self), self.filename, self.reason, extra))


class DocumentLimitError(DocumentParseError):
    """A file is over one of the parsing limits (expanded size, members, pages, time, memory).

    ``details`` names the ``limit`` (its value) and the ``setting`` an operator can raise.

    >>> error = DocumentLimitError("a.docx", "the file expands to more than 100 MB",
    ...     limit=100, setting="SNAPAGENT_KNOWLEDGE_OFFICE_MAX_UNCOMPRESSED_BYTES")
    >>> error.details["limit"]
    100
    """

    def __init__(self, filename: str, reason: str, *, limit: object, setting: str) -> None:
        super().__init__(filename, reason, limit=limit, setting=setting)
        self.limit = limit
        self.setting = setting


def _rebuild(
    cls: type[DocumentParseError], filename: str, reason: str, extra: dict[str, object]
) -> DocumentParseError:
    return cls(filename, reason, **extra)


@dataclass(frozen=True, slots=True)
class Block:
    """One structural unit of a document.

    ``heading_path`` lists the headings above the block (for a heading: its parents and
    itself); ``level`` is the heading level (1-6, 0 for other kinds); ``page`` is the 1-based
    PDF page, None elsewhere.
    """

    kind: BlockKind
    text: str
    heading_path: tuple[str, ...] = ()
    level: int = 0
    page: int | None = None


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A parsed upload: its title, format and blocks in reading order.

    ``text`` is the blocks joined by blank lines; ``block_offsets[i]`` is where block ``i``
    starts in it, so a chunk can be cited by character span.
    """

    title: str
    format: DocumentFormat
    blocks: tuple[Block, ...]
    text: str = field(init=False)
    block_offsets: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        offsets: list[int] = []
        position = 0
        for block in self.blocks:
            offsets.append(position)
            position += len(block.text) + len(BLOCK_SEPARATOR)
        object.__setattr__(self, "text", BLOCK_SEPARATOR.join(b.text for b in self.blocks))
        object.__setattr__(self, "block_offsets", tuple(offsets))
