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
undecodable files, and its `DocumentLimitError` for files past a `ParseLimits` bound (a zip
bomb, too many pages); all name the file and the reason.

The model (`Block`, `ParsedDocument`, the errors) lives in `snapagent.knowledge.parsed`, the
per-format parsers in `snapagent.knowledge.formats`; both are re-exported here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import PurePath

from snapagent.errors import UnsupportedMediaError
from snapagent.knowledge.formats.limits import ParseLimits
from snapagent.knowledge.parsed import (
    BLOCK_SEPARATOR,
    Block,
    BlockKind,
    DocumentFormat,
    DocumentLimitError,
    DocumentParseError,
    ParsedDocument,
)

__all__ = [
    "BLOCK_SEPARATOR",
    "Block",
    "BlockKind",
    "DocumentFormat",
    "DocumentLimitError",
    "DocumentParseError",
    "ParseLimits",
    "ParsedDocument",
    "detect_format",
    "parse_document",
]

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


def parse_document(
    data: bytes,
    filename: str,
    content_type: str | None = None,
    limits: ParseLimits | None = None,
) -> ParsedDocument:
    """Parse an upload into a `ParsedDocument` (see the module docstring for the errors).

    This is CPU- and memory-hungry library work on untrusted bytes: the server calls it only
    through `snapagent.knowledge.parser_pool`, in a worker process with a deadline and a
    memory limit; ``limits`` bound the work inside.
    """
    if not data.strip():
        raise DocumentParseError(filename, "the file is empty")
    limits = limits or ParseLimits()
    fmt = detect_format(data, filename, content_type)
    # Imported lazily: each parser pulls in its library only when a file of its kind arrives.
    if fmt == "pdf":
        from snapagent.knowledge.formats.pdf import parse_pdf

        title, blocks = parse_pdf(data, filename, limits)
    elif fmt == "docx":
        from snapagent.knowledge.formats.office import parse_docx

        title, blocks = parse_docx(data, filename, limits)
    else:
        from snapagent.knowledge.formats import markup
        from snapagent.knowledge.formats.decoding import decode_text

        text = decode_text(data, filename)
        if fmt == "text":
            title, blocks = markup.parse_plain(text)
        elif fmt == "markdown":
            title, blocks = markup.parse_markdown(text, limits)
        else:
            title, blocks = markup.parse_html(text, limits)
    cleaned = tuple(_clean_blocks(blocks))
    if not cleaned:
        raise DocumentParseError(filename, "the file contains no text")
    chars = sum(len(block.text) for block in cleaned)
    if chars > limits.max_text_chars:
        raise limits.exceeded(
            filename,
            "max_text_chars",
            f"the document holds {chars:,} characters of text; the limit is "
            f"{limits.max_text_chars:,} (split it into smaller files)",
        )
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
