"""Documents for tests, honest and hostile: small valid PDFs and DOCX files, and the bombs the
parsing limits exist for (zip bombs, lying zip headers, XML entity bombs, huge PDF streams).

Every builder streams what it compresses, so a bomb that expands to a gigabyte costs the test
a few megabytes and about a second to build (and is cached).

    >>> pdf_bytes([["Hello."]]).startswith(b"%PDF-")
    True
    >>> len(zip_bomb_docx(1 << 30)) < 2_000_000   # 1 GB of zeros in a ~1 MB DOCX
    True
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "RawMember",
    "deep_html",
    "deflated_zeros",
    "docx_bytes",
    "huge_stream_pdf",
    "lying_header_docx",
    "pdf_bytes",
    "raw_zip",
    "xml_bomb_docx",
    "zip_bomb_docx",
]

_MIB = 1024 * 1024


def pdf_bytes(
    pages: list[list[str]], title: str | None = None, *, streams: list[bytes] | None = None
) -> bytes:
    """A minimal, valid PDF with Helvetica text lines on each page (ASCII text only).

    ``streams`` adds pages whose content streams are these, already FlateDecode-compressed.
    """
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    contents: list[tuple[bytes, bytes]] = []  # (dictionary extras, stream bytes)
    for lines in pages:
        shown = " ".join(f"({line}) Tj T*" for line in lines)
        contents.append((b"", f"BT /F1 12 Tf 14 TL 72 720 Td {shown} ET".encode("latin-1")))
    for stream in streams or ():
        contents.append((b" /Filter /FlateDecode", stream))
    kids: list[int] = []
    number = 4
    for extras, stream in contents:
        objects[number] = b"<< /Length %d%s >>\nstream\n%s\nendstream" % (
            len(stream),
            extras,
            stream,
        )
        objects[number + 1] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Contents %d 0 R /Resources << /Font << /F1 3 0 R >> >> >>" % number
        )
        kids.append(number + 1)
        number += 2
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info = b""
    if title:
        objects[number] = f"<< /Title ({title}) >>".encode("latin-1")
        info = b" /Info %d 0 R" % number
    out = bytearray(b"%PDF-1.4\n")
    offsets: dict[int, int] = {}
    for key in sorted(objects):
        offsets[key] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (key, objects[key])
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[i] for i in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, info, xref)
    return bytes(out)


@functools.lru_cache(maxsize=8)
def huge_stream_pdf(operations: int = 2_000_000) -> bytes:
    """A one-page PDF of a few hundred KB whose content stream holds ``operations`` text-show
    operators (about 12 bytes each once inflated): cheap to send, slow to extract."""
    compressor = zlib.compressobj(9)
    block = b"(x) Tj\n" * 10_000
    parts = [compressor.compress(b"BT /F1 12 Tf 72 720 Td\n")]
    for _ in range(max(1, operations // 10_000)):
        parts.append(compressor.compress(block))
    parts.append(compressor.compress(b"ET\n"))
    parts.append(compressor.flush())
    return pdf_bytes([], streams=[b"".join(parts)])


def docx_bytes(paragraphs: Iterable[str] = ("Hello from a DOCX.",), title: str = "") -> bytes:
    """A valid DOCX (python-docx's template) with one paragraph per item."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    for text in paragraphs:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True, slots=True)
class RawMember:
    """One zip member written byte for byte: ``declared_size`` may lie about ``data``."""

    name: str
    data: bytes  # as stored (already deflated when method is 8)
    crc: int
    declared_size: int
    method: int = zipfile.ZIP_DEFLATED


def raw_zip(members: Iterable[RawMember]) -> bytes:
    """A zip archive written by hand, so that headers can say what the data is not."""
    out = bytearray()
    directory = bytearray()
    count = 0
    for member in members:
        name = member.name.encode()
        offset = len(out)
        fields = (20, 0, member.method, 0, 0x21, member.crc, len(member.data), member.declared_size)
        out += struct.pack("<4sHHHHHIII", b"PK\x03\x04", *fields) + struct.pack("<HH", len(name), 0)
        out += name + member.data
        directory += struct.pack("<4sHHHHHHIII", b"PK\x01\x02", 20, *fields)
        directory += struct.pack("<HHHHHII", len(name), 0, 0, 0, 0, 0, offset) + name
        count += 1
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(out), 0)
    return bytes(out + directory + end)


@functools.lru_cache(maxsize=8)
def deflated_zeros(size: int) -> tuple[bytes, int]:
    """``size`` zero bytes, raw-deflated (as zip stores them), and their CRC-32.

    Each MiB is compressed after a full flush, which resets the compressor: every whole MiB
    compresses to the same block, so it is compressed once and repeated.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    whole, rest = divmod(size, _MIB)
    mebibyte = bytes(_MIB)
    block = compressor.compress(mebibyte) + compressor.flush(zlib.Z_FULL_FLUSH) if whole else b""
    tail = compressor.compress(bytes(rest)) + compressor.flush()
    crc = 0
    for _ in range(whole):
        crc = zlib.crc32(mebibyte, crc)
    return block * whole + tail, zlib.crc32(bytes(rest), crc)


def _docx_members(document_xml: bytes | None = None) -> list[RawMember]:
    """python-docx's template as raw members (document.xml replaced if given)."""
    members = []
    with zipfile.ZipFile(io.BytesIO(docx_bytes())) as archive:
        for info in archive.infolist():
            data = archive.read(info)
            if document_xml is not None and info.filename == "word/document.xml":
                data = document_xml
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
            packed = compressor.compress(data) + compressor.flush()
            members.append(RawMember(info.filename, packed, zlib.crc32(data), len(data)))
    return members


@functools.lru_cache(maxsize=8)
def zip_bomb_docx(expanded: int = 1 << 30) -> bytes:
    """A valid DOCX plus one part of ``expanded`` zero bytes, honestly declared."""
    packed, crc = deflated_zeros(expanded)
    bomb = RawMember("word/media/image1.png", packed, crc, expanded)
    return raw_zip([*_docx_members(), bomb])


@functools.lru_cache(maxsize=8)
def lying_header_docx(expanded: int = 1 << 30, declared: int = 1000) -> bytes:
    """Like `zip_bomb_docx`, but the bomb part's headers declare only ``declared`` bytes."""
    packed, crc = deflated_zeros(expanded)
    bomb = RawMember("word/media/image1.png", packed, crc, declared)
    return raw_zip([*_docx_members(), bomb])


def xml_bomb_docx(levels: int = 10) -> bytes:
    """A DOCX whose document.xml is a "billion laughs" entity bomb (10 ** ``levels`` lols)."""
    entities = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1))
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<!DOCTYPE w:document [<!ENTITY lol0 "lol">{entities}]>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body><w:p><w:r><w:t>&lol{levels};</w:t></w:r></w:p></w:body></w:document>"
    )
    return raw_zip(_docx_members(document.encode()))


def deep_html(depth: int = 100_000, tag: str = "div") -> bytes:
    """HTML nested ``depth`` elements deep around one word."""
    return b"<html><body>%s deep %s</body></html>" % (
        f"<{tag}>".encode() * depth,
        f"</{tag}>".encode() * depth,
    )
