"""parse_document: structure per format, type sniffing, encodings, and every kind of bad file."""

from __future__ import annotations

import codecs
import io
import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from snapagent.errors import InputValidationError, UnsupportedMediaError
from snapagent.knowledge.parsing import DocumentParseError, detect_format, parse_document
from snapagent.testing.documents import pdf_bytes as make_pdf

FILES = Path(__file__).parent / "files"


def make_docx() -> bytes:
    document = docx.Document()
    document.core_properties.title = "사내 규정"
    document.add_heading("휴가", level=1)
    document.add_paragraph("연차는 15일이다. Annual leave is 15 days.")
    document.add_heading("신청", level=2)
    document.add_paragraph("인사 시스템에서 신청한다", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "구분", "일수"
    table.cell(1, 0).text, table.cell(1, 1).text = "연차", "15"
    document.add_heading("병가", level=1)
    document.add_paragraph("진단서가 필요하다.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _summary(data: bytes, name: str, content_type: str | None = None) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in parse_document(data, name, content_type).blocks]


# -- good input -----------------------------------------------------------------------------


def test_markdown_structure_title_and_heading_paths() -> None:
    doc = parse_document((FILES / "guide_ko.md").read_bytes(), "guide_ko.md")
    assert doc.format == "markdown"
    assert doc.title == "스냅에이전트 사용 안내"
    kinds = {(b.kind, b.text) for b in doc.blocks}
    assert ("code", "make run") in kinds
    assert ("list_item", "make 명령") in kinds  # inline code markup removed
    assert ("table_row", "마크다운 | .md") in kinds
    assert (
        "paragraph",
        "문서를 올리면 백그라운드에서 색인됩니다.문장 사이에 공백이 없어도 나뉩니다.",
    ) in kinds
    table_row = next(b for b in doc.blocks if b.kind == "table_row")
    assert table_row.heading_path == ("스냅에이전트 사용 안내", "지식 베이스")
    for block, offset in zip(doc.blocks, doc.block_offsets, strict=True):
        assert doc.text[offset : offset + len(block.text)] == block.text


def test_html_drops_scripts_styles_navigation_and_comments() -> None:
    doc = parse_document((FILES / "page_ko.html").read_bytes(), "page_ko.html")
    assert doc.title == "서울 안내"
    assert _summary((FILES / "page_ko.html").read_bytes(), "page_ko.html") == [
        ("heading", "서울특별시"),
        ("paragraph", "서울은 대한민국의 수도이다.\n인구는 약 940만 명이다."),
        ("heading", "교통"),
        ("list_item", "지하철 1~9호선"),
        ("list_item", "공항철도"),
        ("list_item", "버스"),
        ("table_row", "노선 | 개통"),
        ("table_row", "1호선 | 1974년"),
        ("code", "code block"),
    ]
    for unwanted in ("추적", "font-family", "홈", "주석", "자바스크립트"):
        assert unwanted not in doc.text


def test_html_title_falls_back_to_the_first_heading() -> None:
    doc = parse_document(b"<html><body><h2>Only heading</h2><p>x</p></body></html>", "a.html")
    assert doc.title == "Only heading"


def test_plain_text_paragraphs_and_filename_title() -> None:
    doc = parse_document("첫 문단\n둘째 줄\r\n\r\n  \n둘째 문단".encode(), "notes/메모.txt")
    assert doc.title == "메모"
    assert _summary("첫 문단\n둘째 줄\n\n둘째 문단".encode(), "a.txt") == [
        ("paragraph", "첫 문단\n둘째 줄"),
        ("paragraph", "둘째 문단"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        "한글 본문".encode("utf-8-sig"),
        "한글 본문".encode("utf-16"),  # with BOM
        codecs.BOM_UTF16_BE + "한글 본문".encode("utf-16-be"),
        "Korean 한글 본문 text".encode("utf-16-be"),  # no BOM, mostly ASCII
        "Korean 한글 본문 text".encode("utf-16-le"),  # no BOM, mostly ASCII
        "한글 본문".encode("cp949"),
        "한글 본문".encode("euc-kr"),
        "한글 본문".encode("utf-32"),
    ],
)
def test_text_encodings(data: bytes) -> None:
    assert "한글 본문" in parse_document(data, "a.txt").text


def test_pdf_text_pages_and_metadata_title() -> None:
    data = make_pdf([["Hello from page one.", "Second line."], ["Page two text."]], "Manual")
    doc = parse_document(data, "manual.pdf")
    assert doc.format == "pdf"
    assert doc.title == "Manual"
    assert "Hello from page one." in doc.text
    assert "Page two text." in doc.text
    assert {b.page for b in doc.blocks} == {1, 2}
    assert next(b for b in doc.blocks if "two" in b.text).page == 2


def test_docx_headings_lists_tables_and_title() -> None:
    doc = parse_document(make_docx(), "rules.docx")
    assert doc.format == "docx"
    assert doc.title == "사내 규정"
    blocks = [(b.kind, b.text, b.heading_path) for b in doc.blocks]
    assert blocks == [
        ("heading", "휴가", ("휴가",)),
        ("paragraph", "연차는 15일이다. Annual leave is 15 days.", ("휴가",)),
        ("heading", "신청", ("휴가", "신청")),
        ("list_item", "인사 시스템에서 신청한다", ("휴가", "신청")),
        ("table_row", "구분 | 일수", ("휴가", "신청")),
        ("table_row", "연차 | 15", ("휴가", "신청")),
        ("heading", "병가", ("병가",)),
        ("paragraph", "진단서가 필요하다.", ("병가",)),
    ]


def test_the_bytes_outrank_the_name() -> None:
    assert parse_document(make_pdf([["Real PDF."]]), "notes.txt").format == "pdf"
    assert parse_document(make_docx(), "upload.bin").format == "docx"
    assert parse_document(b"<!DOCTYPE html><p>hi</p>", "upload").format == "html"
    assert detect_format(b"# t", "upload", "text/markdown; charset=utf-8") == "markdown"
    assert detect_format(b"plain", "README") == "text"


def test_html_is_sniffed_behind_leading_comments_but_not_inside_one() -> None:
    commented = b"  <!-- generated -->\n<!-- a - b -->\n<html><body>hi</body></html>"
    assert detect_format(commented, "upload") == "html"
    assert detect_format(b"<!-- <html> is only mentioned here -->", "upload") == "text"
    assert detect_format(b"<!-- never closed <html>", "upload") == "text"
    # The exponential case of the old pattern: many comments, then no tag (answers at once).
    assert detect_format(b"<!---->" * 600 + b"!", "upload") == "text"


def test_unicode_oddities_are_cleaned() -> None:
    decomposed = unicodedata.normalize("NFD", "한글")  # as typed on macOS
    raw = f"\ufeff{decomposed}\u200b 본문\x00\x07 끝\u3000\u3000말\x0c다음".encode()
    doc = parse_document(raw.replace(b"\x00", b""), "a.md")
    assert doc.text == "한글 본문 끝 말\n다음"
    assert unicodedata.is_normalized("NFC", doc.text)


def test_emoji_and_rare_characters_survive() -> None:
    assert parse_document("이모지 😀 와 𠀀 한자".encode(), "a.txt").text == "이모지 😀 와 𠀀 한자"


# -- bad input ------------------------------------------------------------------------------


def _parse_error(data: bytes, name: str) -> DocumentParseError:
    with pytest.raises(DocumentParseError) as info:
        parse_document(data, name)
    error = info.value
    assert isinstance(error, InputValidationError)
    assert error.field == "file"
    assert error.details["filename"] == name
    assert name in str(error)
    return error


@pytest.mark.parametrize("data", [b"", b"   \n\t  ", "\ufeff".encode()])
def test_empty_files(data: bytes) -> None:
    reason = _parse_error(data, "empty.txt").reason
    assert "empty" in reason or "no text" in reason


def test_markup_without_text() -> None:
    assert "no text" in _parse_error(b"<html><script>x()</script></html>", "a.html").reason
    assert "no text" in _parse_error(b"---\n\n***\n", "a.md").reason


def test_binary_content_with_a_txt_name() -> None:
    assert "binary" in _parse_error(bytes(range(256)) * 4, "data.txt").reason
    assert "binary" in _parse_error(b"\x01\x02\x03\x04\x05\x06abc" * 20, "data.txt").reason


def test_undecodable_text() -> None:
    assert "UTF-8" in _parse_error(b"caf\xe9 \xff\xfe\xfd", "latin.txt").reason


def test_corrupt_and_truncated_pdfs() -> None:
    assert "corrupt PDF" in _parse_error(b"%PDF-1.4\n garbage\n%%EOF\n", "broken.pdf").reason
    whole = make_pdf([["Some text here."], ["More on page two."]])
    for cut in (120, len(whole) // 2, len(whole) - 10):
        error = _parse_error(whole[:cut], "truncated.pdf")
        assert error.reason == (
            "the PDF is incomplete: it does not end with the end-of-file marker - "
            "was the upload or download cut short?"
        )


def test_a_pdf_name_without_pdf_content() -> None:
    assert "not a valid PDF" in _parse_error(b"just text", "fake.pdf").reason


def test_a_pdf_without_text() -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "no extractable text" in _parse_error(buffer.getvalue(), "scan.pdf").reason


def test_a_password_protected_pdf() -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["Secret text."]]))))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert "password" in _parse_error(buffer.getvalue(), "locked.pdf").reason


def test_a_truncated_docx() -> None:
    data = make_docx()
    error = _parse_error(data[: len(data) // 2], "cut.docx")
    assert "corrupt DOCX" in error.reason


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.txt"),
        (b"\xff\xd8\xff\xe0" + bytes(64), "scan.pdf"),
        (b"GIF89a" + bytes(16), "anim.md"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "old.doc"),
        (b"plain words", "sheet.xlsx"),
        (b"\x7fELF" + bytes(64), "tool"),
    ],
)
def test_unsupported_types(data: bytes, name: str) -> None:
    with pytest.raises(UnsupportedMediaError) as info:
        parse_document(data, name)
    assert name in str(info.value)
    assert info.value.details["filename"] == name


def test_a_zip_that_is_not_a_docx() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(UnsupportedMediaError, match="ZIP archive"):
        parse_document(buffer.getvalue(), "notes.docx")
