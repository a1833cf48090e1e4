"""Turning an uploaded file into a title and structured text blocks.

The type is decided from the bytes first and the name/content type second: a PDF or DOCX is
recognised by its signature whatever it is called, a file named ``.pdf`` that is not one is
rejected, and binary content is never parsed as text. Parsing itself is delegated to well-kept
libraries (markdown-it-py, BeautifulSoup + lxml, pypdf, python-docx); this module only maps
their output onto one small model: a list of `Block` (heading, paragraph, list item, table row,
code) each carrying the heading path above it, so chunks can cite "Title > Section".

    >>> doc = parse_document(b"# Guide\\n\\nHello.\\n\\n## Install\\n\\n- pip install", "g.md")
    >>> doc.title, [(b.kind, b.text, b.heading_path) for b in doc.blocks][-1]
    ('Guide', ('list_item', 'pip install', ('Guide', 'Install')))

Errors: `UnsupportedMediaError` for types we do not parse (images, spreadsheets, archives...),
`DocumentParseError` (an `InputValidationError`, field ``file``) for corrupt, empty or
undecodable files; both name the file and the reason.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from snapagent.errors import InputValidationError, UnsupportedMediaError

__all__ = [
    "Block",
    "BlockKind",
    "DocumentFormat",
    "DocumentParseError",
    "ParsedDocument",
    "detect_format",
    "parse_document",
]

BlockKind = Literal["heading", "paragraph", "list_item", "table_row", "code"]
DocumentFormat = Literal["text", "markdown", "html", "pdf", "docx"]


class DocumentParseError(InputValidationError):
    """A file could not be read: corrupt, empty, encrypted or undecodable.

    ``filename`` and ``reason`` are also in ``details`` for the API/CLI to show.
    """

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(
            f"cannot read {filename!r}: {reason}",
            field="file",
            details={"filename": filename, "reason": reason},
        )
        self.filename = filename
        self.reason = reason


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


BLOCK_SEPARATOR = "\n\n"

_EXTENSIONS: dict[str, DocumentFormat] = {
    ".txt": "text", ".text": "text", ".csv": "text", ".log": "text", ".rst": "text",
    ".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}  # fmt: skip
_CONTENT_TYPES: dict[str, DocumentFormat] = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
# Signatures of formats we recognise but do not parse (images, archives, office, media).
_UNSUPPORTED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"RIFF", "RIFF media (WebP/WAV/AVI)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office document (.doc/.xls/.ppt)"),
    (b"\x1f\x8b", "gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"Rar!", "RAR archive"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
    (b"{\\rtf", "RTF document"),
    (b"ID3", "MP3 audio"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"\x00\x00\x00\x18ftyp", "MP4 media"),
    (b"\x00\x00\x00\x20ftyp", "MP4 media"),
)
_UNSUPPORTED_EXTENSIONS = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tiff", ".svg", ".doc", ".xls", ".xlsx",
        ".ppt", ".pptx", ".zip", ".gz", ".tar", ".7z", ".rar", ".exe", ".dll", ".so", ".bin",
        ".mp3", ".mp4", ".wav", ".avi", ".mov", ".odt", ".rtf", ".epub",
    }
)  # fmt: skip
# Leading comments are skipped possessively and never span a "-->": the earlier
# ``(<!--.*?-->\s*)*`` let each comment reach any later "-->", so a few hundred bytes of
# "<!---->" backtracked exponentially (tests/security/test_regex_backtracking.py).
_HTML_SNIFF = re.compile(
    rb"^\s*+(?:<!--(?:(?!-->).)*+-->\s*+)*+<(!doctype\s+html|html|head|body)\b", re.I | re.S
)


def detect_format(data: bytes, filename: str, content_type: str | None = None) -> DocumentFormat:
    """Which parser applies to ``data``; the bytes outrank the name and the content type."""
    suffix = PurePath(filename).suffix.lower()
    claimed = _EXTENSIONS.get(suffix) or _CONTENT_TYPES.get(
        (content_type or "").split(";")[0].strip().lower()
    )
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        # A DOCX is a ZIP whose first entries are its content types and the word/ part.
        if b"word/" in data[:65536] and b"[Content_Types].xml" in data[:65536]:
            return "docx"
        raise UnsupportedMediaError(
            f"{filename!r} is a ZIP archive, not a DOCX document",
            details={"filename": filename, "reason": "zip archive"},
        )
    for signature, what in _UNSUPPORTED_SIGNATURES:
        if data.startswith(signature):
            raise UnsupportedMediaError(
                f"{filename!r} is a {what}; upload text, Markdown, HTML, PDF or DOCX",
                details={"filename": filename, "reason": what},
            )
    if claimed in ("pdf", "docx"):
        raise DocumentParseError(filename, f"not a valid {claimed.upper()} file (bad signature)")
    if claimed is None and suffix in _UNSUPPORTED_EXTENSIONS:
        raise UnsupportedMediaError(
            f"{filename!r}: {suffix} files are not supported; "
            "upload text, Markdown, HTML, PDF or DOCX",
            details={"filename": filename, "reason": f"unsupported type {suffix}"},
        )
    if claimed in ("text", "markdown", "html"):
        return claimed
    return "html" if _HTML_SNIFF.match(data[:4096]) else "text"


def parse_document(data: bytes, filename: str, content_type: str | None = None) -> ParsedDocument:
    """Parse an upload into a `ParsedDocument` (see the module docstring for the errors)."""
    if not data.strip():
        raise DocumentParseError(filename, "the file is empty")
    fmt = detect_format(data, filename, content_type)
    # Imported lazily: each parser pulls in its library only when a file of its kind arrives.
    if fmt == "pdf":
        from snapagent.knowledge.formats.office import parse_pdf

        title, blocks = parse_pdf(data, filename)
    elif fmt == "docx":
        from snapagent.knowledge.formats.office import parse_docx

        title, blocks = parse_docx(data, filename)
    else:
        from snapagent.knowledge.formats import markup
        from snapagent.knowledge.formats.decoding import decode_text

        text = decode_text(data, filename)
        parse = {
            "text": markup.parse_plain,
            "markdown": markup.parse_markdown,
            "html": markup.parse_html,
        }[fmt]
        title, blocks = parse(text)
    cleaned = tuple(_clean_blocks(blocks))
    if not cleaned:
        raise DocumentParseError(filename, "the file contains no text")
    title = _clean_text(title or "").replace("\n", " ")
    return ParsedDocument(title=title or _stem(filename), format=fmt, blocks=cleaned)


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufeff\u200b\ufffe\uffff]")
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\u2028\u2029\x85]")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")


def _clean_text(text: str) -> str:
    """Drop control characters, unify line breaks, collapse runs of spaces, drop empty lines.

    Text is NFC-composed: Korean typed on macOS arrives as decomposed jamo (NFD) and would
    otherwise never equal the same words typed elsewhere.
    """
    text = unicodedata.normalize("NFC", _CONTROL.sub("", _LINE_BREAKS.sub("\n", text)))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _clean_blocks(blocks: Iterable[Block]) -> Iterable[Block]:
    for block in blocks:
        text = _clean_text(block.text)
        if text:
            path = tuple(_clean_text(heading) for heading in block.heading_path)
            yield Block(block.kind, text, path, block.level, block.page)


def _stem(filename: str) -> str:
    return PurePath(filename).stem or filename
