"""Each parsing bound refuses what it bounds - with a reason a user can act on - and lets
honest files through; a refusal costs little time and memory whatever the file claims."""

from __future__ import annotations

import io
import pickle
import struct
import time
import tracemalloc
import zipfile
import zlib

import pytest

from snapagent.knowledge.parsing import (
    DocumentLimitError,
    DocumentParseError,
    ParseLimits,
    parse_document,
)
from snapagent.testing.documents import (
    RawMember,
    deep_html,
    deflated_zeros,
    docx_bytes,
    huge_stream_pdf,
    lying_header_docx,
    pdf_bytes,
    raw_zip,
    xml_bomb_docx,
    zip_bomb_docx,
)

MIB = 1024 * 1024


def _office(members: list[RawMember]) -> bytes:
    """A zip that sniffs as a DOCX (its content types first), then ``members``."""
    types = b"<Types/>"
    return raw_zip([RawMember("[Content_Types].xml", types, zlib.crc32(types), 8, 0), *members])


def _refusal(data: bytes, name: str, limits: ParseLimits | None = None) -> DocumentParseError:
    with pytest.raises(DocumentParseError) as caught:
        parse_document(data, name, limits=limits)
    return caught.value


def _peak_bytes(data: bytes, name: str, limits: ParseLimits) -> tuple[int, DocumentParseError]:
    """Peak Python allocation (inflated buffers are bytes objects, so they are counted)."""
    tracemalloc.start()
    try:
        error = _refusal(data, name, limits)
        return tracemalloc.get_traced_memory()[1], error
    finally:
        tracemalloc.stop()


# -- zip-based office files ---------------------------------------------------------------------


def test_an_honest_docx_passes_every_bound() -> None:
    assert parse_document(docx_bytes(["within bounds"]), "ok.docx").text == "within bounds"


def test_a_zip_bomb_is_refused_from_its_directory_before_inflating() -> None:
    limits = ParseLimits(office_max_uncompressed_bytes=64 * MIB)
    peak, error = _peak_bytes(zip_bomb_docx(1 << 30), "bomb.docx", limits)
    assert isinstance(error, DocumentLimitError)
    assert "expands to more than 64 MB when unzipped" in error.reason
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_OFFICE_MAX_UNCOMPRESSED_BYTES"
    assert error.details["limit"] == 64 * MIB
    assert peak < 8 * MIB  # the gigabyte was never inflated


def test_the_total_counts_every_member() -> None:
    packed, crc = deflated_zeros(3 * MIB)
    parts = [RawMember(f"word/media/{i}.bin", packed, crc, 3 * MIB) for i in range(4)]
    limits = ParseLimits(office_max_uncompressed_bytes=10 * MIB, office_max_compression_ratio=1e9)
    error = _refusal(_office(parts), "many.docx", limits)
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_OFFICE_MAX_UNCOMPRESSED_BYTES"


def test_a_member_compressed_past_the_ratio_is_refused() -> None:
    # 16 MB of zeros in ~16 KB: within the size limit, but ~1000:1 is a bomb's signature.
    error = _refusal(zip_bomb_docx(16 * MIB), "ratio.docx")
    assert isinstance(error, DocumentLimitError)
    assert "expands 1" in error.reason
    assert "decompression bomb" in error.reason
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_OFFICE_MAX_COMPRESSION_RATIO"
    lenient = ParseLimits(office_max_compression_ratio=2000)
    assert parse_document(zip_bomb_docx(16 * MIB), "ratio.docx", limits=lenient).text


def test_a_header_that_understates_its_member_gets_no_more_than_it_declared() -> None:
    # The directory says 1000 bytes; the data inflates to a gigabyte. Nothing past the
    # declared size is produced, and the mismatch is reported as a damaged file.
    peak, error = _peak_bytes(lying_header_docx(1 << 30, 1000), "liar.docx", ParseLimits())
    assert "corrupt DOCX" in error.reason
    assert "CRC" in error.reason
    assert peak < 8 * MIB


def test_inflation_is_counted_while_it_streams_even_if_the_directory_check_were_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Defence in depth: with the directory check disabled, the bomb is still stopped by the
    # count of what actually comes out, 64 KiB at a time, at the limit.
    from snapagent.knowledge.formats import zip_package

    monkeypatch.setattr(zip_package, "_check_directory", lambda *args: None)
    limits = ParseLimits(office_max_uncompressed_bytes=8 * MIB)
    peak, error = _peak_bytes(zip_bomb_docx(1 << 30), "bomb.docx", limits)
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_OFFICE_MAX_UNCOMPRESSED_BYTES"
    assert peak < 4 * MIB


def test_too_many_members_are_refused_from_the_end_record_alone() -> None:
    empty = [RawMember(f"word/p{i}", b"\x03\x00", 0, 0) for i in range(50)]
    error = _refusal(_office(empty), "parts.docx", ParseLimits(office_max_members=20))
    assert error.reason == "the DOCX has 51 parts; the limit is 20"
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_OFFICE_MAX_MEMBERS"


def test_an_end_record_claiming_a_huge_directory_is_refused_before_parsing_it() -> None:
    data = bytearray(docx_bytes())
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, 60_000, 60_000)  # entries on disk / in total
    started = time.perf_counter()
    error = _refusal(bytes(data), "claims.docx")
    assert error.reason == "the DOCX has 60000 parts; the limit is 2000"
    assert time.perf_counter() - started < 1


def test_compression_methods_office_never_uses_are_refused() -> None:
    # zipfile inflates a bzip2 member in one unbounded call; such a member is never read.
    import bz2

    payload = bz2.compress(bytes(MIB))
    member = RawMember("word/document.xml", payload, zlib.crc32(bytes(MIB)), MIB, method=12)
    error = _refusal(_office([member]), "bz.docx")
    assert "compression method 12" in error.reason


def test_an_encrypted_member_is_refused() -> None:
    data = bytearray(docx_bytes())
    for signature, flags_at in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        at = data.find(signature)
        while at >= 0:
            data[at + flags_at] |= 1
            at = data.find(signature, at + 4)
    assert "encrypted" in _refusal(bytes(data), "locked.docx").reason


def test_a_truncated_zip_is_a_damaged_file() -> None:
    data = docx_bytes()
    assert "truncated" in _refusal(data[: len(data) // 2], "half.docx").reason


def test_an_xml_entity_bomb_is_refused_without_expanding() -> None:
    started = time.perf_counter()
    error = _refusal(xml_bomb_docx(levels=12), "lol.docx")
    assert "document type (DTD)" in error.reason
    assert time.perf_counter() - started < 2


def test_a_utf16_dtd_is_found_too() -> None:
    document = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'
    encoded = document.encode("utf-16-le")
    packed = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packed.compress(encoded) + packed.flush()
    member = RawMember("word/document.xml", data, zlib.crc32(encoded), len(encoded))
    assert "DTD" in _refusal(_office([member]), "wide.docx").reason


def test_deeply_nested_docx_xml_is_a_damaged_file_not_a_crash() -> None:
    depth = 5000
    body = "<w:p>" * depth + "<w:r><w:t>deep</w:t></w:r>" + "</w:p>" * depth
    document = (
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    ).encode()
    base = zipfile.ZipFile(io.BytesIO(docx_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in base.infolist():
            data = document if info.filename == "word/document.xml" else base.read(info)
            archive.writestr(info.filename, data)
    error = _refusal(out.getvalue(), "deep.docx")
    assert "corrupt DOCX" in error.reason


# -- PDF ------------------------------------------------------------------------------------


def test_pdf_pages_are_bounded() -> None:
    data = pdf_bytes([["one"], ["two"], ["three"]])
    error = _refusal(data, "pages.pdf", ParseLimits(pdf_max_pages=2))
    assert error.reason == "the PDF has 3 pages; the limit is 2"
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_PDF_MAX_PAGES"
    assert parse_document(data, "pages.pdf", limits=ParseLimits(pdf_max_pages=3)).text


def test_a_pdf_stream_that_decodes_past_the_limit_is_refused() -> None:
    compressor = zlib.compressobj(9)
    stream = compressor.compress(b"BT (x) Tj ET " + b" " * (4 * MIB)) + compressor.flush()
    limits = ParseLimits(pdf_max_stream_bytes=MIB)
    error = _refusal(pdf_bytes([], streams=[stream]), "big.pdf", limits)
    assert isinstance(error, DocumentLimitError)
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_PDF_MAX_STREAM_BYTES"
    assert "1 MB" in error.reason


def test_a_pdf_page_with_too_many_operations_is_refused() -> None:
    data = huge_stream_pdf(60_000)
    error = _refusal(data, "ops.pdf", ParseLimits(pdf_max_stream_operations=50_000))
    assert error.reason == "a page of the PDF has more than 50,000 drawing operations"
    assert error.details["setting"] == "SNAPAGENT_KNOWLEDGE_PDF_MAX_STREAM_OPERATIONS"


# -- HTML and Markdown ------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["div", "li", "section"])
def test_deep_html_is_read_as_text_below_the_depth_limit(tag: str) -> None:
    doc = parse_document(deep_html(20_000, tag), "deep.html")
    assert doc.text == "deep"


def test_structure_above_the_depth_limit_is_kept() -> None:
    html = b"<div><div><h2>Section</h2><p>kept</p></div></div>"
    doc = parse_document(html, "x.html", limits=ParseLimits(max_nesting_depth=10))
    assert [(b.kind, b.text) for b in doc.blocks] == [("heading", "Section"), ("paragraph", "kept")]
    flat = parse_document(html, "x.html", limits=ParseLimits(max_nesting_depth=1))
    assert [(b.kind, b.text) for b in flat.blocks] == [("paragraph", "Section kept")]


def test_html_entity_declarations_are_not_expanded() -> None:
    lols = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    html = f'<!DOCTYPE html [<!ENTITY l0 "lol">{lols}]><html><body><p>&l9;</p></body></html>'
    doc = parse_document(html.encode(), "lol.html")
    assert len(doc.text) < 1000


def test_deep_html_inside_markdown_is_bounded_too() -> None:
    doc = parse_document(deep_html(5_000).replace(b"<html><body>", b"# Title\n\n"), "x.md")
    assert "deep" in doc.text


# -- errors cross the process boundary intact ---------------------------------------------------


def test_limit_errors_survive_pickling() -> None:
    error = _refusal(zip_bomb_docx(1 << 30), "bomb.docx")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is DocumentLimitError
    assert (copy.message, copy.details, copy.field) == (error.message, error.details, "file")
