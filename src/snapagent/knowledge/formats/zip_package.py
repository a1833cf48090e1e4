"""Bounds on zip-based office files (DOCX), checked before and while anything is inflated.

A few kilobytes of zip can declare - or, with a lying header, hide - gigabytes of content.
`check_package` refuses such a file in three steps, each cheaper than the next:

1. the end-of-central-directory record: how many members and how large a directory, before
   `zipfile` parses a single entry (a directory of 400,000 empty entries costs seconds and
   hundreds of MB to parse);
2. the central directory: every member's declared size, the total, each large member's
   compression ratio, the compression method (OOXML allows only stored and deflate; bzip2 and
   LZMA members would be inflated by `zipfile` in one unbounded call) and encryption;
3. every member inflated once in 64 KiB steps, counting what actually comes out against the
   limits: a header that understates its member cannot get more past than the limit.

XML parts are also refused if they carry a document type declaration: Office never writes
one, and it is where entity-expansion ("billion laughs") bombs live.

    >>> check_package(docx_bytes, "report.docx", ParseLimits())  # doctest: +SKIP
"""

from __future__ import annotations

import io
import struct
import zipfile

from snapagent.knowledge.formats.limits import ParseLimits, megabytes
from snapagent.knowledge.parsed import DocumentParseError

__all__ = ["check_package"]

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
# A central directory entry is 46 bytes plus its name, extra field and comment; Office's are
# well under 200 bytes. This allowance only stops a directory far larger than its members.
_DIRECTORY_BYTES_PER_MEMBER = 1024
_RATIO_CHECKED_ABOVE = 1024 * 1024  # small members cannot hurt, and tiny XML compresses well
_ALLOWED_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_STEP = 64 * 1024
_DOCTYPES = tuple("<!DOCTYPE".encode(codec) for codec in ("utf-8", "utf-16-le", "utf-16-be"))
_OVERLAP = max(len(pattern) for pattern in _DOCTYPES) - 1


def check_package(data: bytes, filename: str, limits: ParseLimits, kind: str = "DOCX") -> None:
    """Raise `DocumentLimitError` (a bound) or `DocumentParseError` (a damaged file) unless
    ``data`` is a zip that stays within ``limits`` when inflated."""
    members, directory_bytes = _directory_size(data, filename, kind)
    if members > limits.office_max_members:
        raise limits.exceeded(
            filename,
            "office_max_members",
            f"the {kind} has {members} parts; the limit is {limits.office_max_members}",
        )
    if directory_bytes > limits.office_max_members * _DIRECTORY_BYTES_PER_MEMBER:
        raise limits.exceeded(
            filename,
            "office_max_members",
            f"the {kind}'s zip directory is {directory_bytes} bytes, more than "
            f"{limits.office_max_members} parts need",
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentParseError(filename, f"corrupt {kind} ({exc})") from None
    with archive:
        infos = archive.infolist()
        _check_directory(infos, filename, limits, kind)
        _inflate_counting(archive, infos, filename, limits, kind)


def _directory_size(data: bytes, filename: str, kind: str) -> tuple[int, int]:
    """(members, central directory bytes) from the end-of-central-directory record."""
    at = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - _MAX_COMMENT))
    if at < 0 or len(data) - at < _EOCD_SIZE:
        raise DocumentParseError(filename, f"corrupt {kind} (the zip is truncated)")
    members, directory_bytes = struct.unpack_from("<HI", data, at + 10)
    if members == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        locator = at - 20
        if locator < 0 or data[locator : locator + 4] != _EOCD64_LOCATOR:
            raise DocumentParseError(filename, f"corrupt {kind} (bad zip64 directory)")
        (record,) = struct.unpack_from("<Q", data, locator + 8)
        if record + 56 > len(data) or data[record : record + 4] != _EOCD64:
            raise DocumentParseError(filename, f"corrupt {kind} (bad zip64 directory)")
        members, directory_bytes = struct.unpack_from("<QQ", data, record + 32)
    return int(members), int(directory_bytes)


def _check_directory(
    infos: list[zipfile.ZipInfo], filename: str, limits: ParseLimits, kind: str
) -> None:
    if len(infos) > limits.office_max_members:  # the directory disagreed with its end record
        raise limits.exceeded(
            filename,
            "office_max_members",
            f"the {kind} has {len(infos)} parts; the limit is {limits.office_max_members}",
        )
    declared = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise DocumentParseError(filename, f"the {kind} is encrypted (password-protected)")
        if info.compress_type not in _ALLOWED_METHODS:
            raise DocumentParseError(
                filename,
                f"corrupt {kind} (part {info.filename!r} uses zip compression method "
                f"{info.compress_type}; office files use only stored or deflate)",
            )
        declared += info.file_size
        if declared > limits.office_max_uncompressed_bytes:
            raise _too_large(filename, limits, kind)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > _RATIO_CHECKED_ABOVE and ratio > limits.office_max_compression_ratio:
            raise limits.exceeded(
                filename,
                "office_max_compression_ratio",
                f"part {info.filename!r} of the {kind} expands {ratio:.0f} times "
                f"(to {megabytes(info.file_size)}); the limit is "
                f"{limits.office_max_compression_ratio:g} times - a decompression bomb?",
            )


def _inflate_counting(
    archive: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    filename: str,
    limits: ParseLimits,
    kind: str,
) -> None:
    total = 0
    for info in infos:
        is_xml = info.filename.endswith((".xml", ".rels"))
        tail = b""
        try:
            with archive.open(info) as member:
                while step := member.read(_STEP):
                    total += len(step)
                    if total > limits.office_max_uncompressed_bytes:
                        raise _too_large(filename, limits, kind)
                    if is_xml:
                        window = tail + step
                        if any(pattern in window for pattern in _DOCTYPES):
                            raise DocumentParseError(
                                filename,
                                f"part {info.filename!r} of the {kind} declares a document "
                                "type (DTD), which office files never do; entity expansion "
                                "is refused",
                            )
                        tail = window[-_OVERLAP:]
        except DocumentParseError:
            raise
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            # A CRC mismatch lands here too: what a lying size header produces at its end.
            raise DocumentParseError(
                filename, f"corrupt {kind} (part {info.filename!r}: {exc})"
            ) from None


def _too_large(filename: str, limits: ParseLimits, kind: str) -> DocumentParseError:
    limit = limits.office_max_uncompressed_bytes
    return limits.exceeded(
        filename,
        "office_max_uncompressed_bytes",
        f"the {kind} expands to more than {megabytes(limit)} when unzipped, "
        "the most this server accepts",
    )
