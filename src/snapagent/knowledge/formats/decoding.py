"""Bytes to text for plain-text uploads: UTF-8 (with or without BOM), UTF-16, CP949/EUC-KR.

Korean files saved by older Windows tools are CP949 (a superset of EUC-KR), so it is the
fallback after UTF-8. Content that looks binary (NUL bytes outside UTF-16, many control
characters) is rejected instead of being indexed as garbage.
"""

from __future__ import annotations

import codecs

from snapagent.knowledge.parsed import DocumentParseError

__all__ = ["decode_text"]

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v")


def decode_text(data: bytes, filename: str) -> str:
    """Decode ``data`` or raise `DocumentParseError` naming the file and the reason."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _checked(_decode(data[len(bom) :], encoding, filename), filename)
    if b"\x00" in data:
        utf16 = _utf16_without_bom(data)
        if utf16 is None:
            raise DocumentParseError(filename, "binary content (NUL bytes), not a text file")
        return _checked(_decode(data, utf16, filename), filename)
    for encoding in ("utf-8", "cp949"):
        try:
            return _checked(data.decode(encoding), filename)
        except UnicodeDecodeError:
            continue
    raise DocumentParseError(filename, "not valid UTF-8, UTF-16 or CP949/EUC-KR text")


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 text of mostly ASCII/Latin has NULs in every other byte: which half tells LE/BE."""
    sample = data[:4096]
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if half < 4:
        return None
    # Some Hangul code units end in a NUL byte too, so compare the halves, do not require 0.
    if odd_nuls > 0.3 * half and even_nuls * 4 < odd_nuls:
        return "utf-16-le"
    if even_nuls > 0.3 * half and odd_nuls * 4 < even_nuls:
        return "utf-16-be"
    return None


def _decode(data: bytes, encoding: str, filename: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DocumentParseError(
            filename, f"invalid {encoding.upper()} at byte {exc.start}"
        ) from None


def _checked(text: str, filename: str) -> str:
    sample = text[:20000]
    controls = sum(1 for c in sample if c < " " and c not in _ALLOWED_CONTROLS)
    if controls > max(2, len(sample) // 100):
        raise DocumentParseError(filename, "binary content (control characters), not a text file")
    return text
