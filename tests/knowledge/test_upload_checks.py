"""Uploads are decided when they arrive where that is possible (no text, truncated, a bomb) -
with the reason - and what cannot be decided in time is parsed in the background, in a worker
process whose deadline and memory limit turn into reasons a user can act on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from conftest import HashEmbeddingModel
from snapagent.db.session import Database
from snapagent.knowledge.parser_pool import DocumentParser, ParseTimeoutError
from snapagent.knowledge.parsing import DocumentLimitError, DocumentParseError
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.testing.documents import docx_bytes, huge_stream_pdf, pdf_bytes, zip_bomb_docx

# The database is incidental here (the checks happen before it is written to): SQLite only.
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MIB = 1024 * 1024


def _service(db: Database, **settings: object) -> KnowledgeService:
    model = HashEmbeddingModel()
    return KnowledgeService(
        db, embeddings=lambda spec: model, settings=KnowledgeSettings(**settings)
    )


@pytest.fixture
async def service(migrated_db: Database) -> AsyncIterator[KnowledgeService]:
    knowledge = _service(migrated_db)
    knowledge.start()
    try:
        yield knowledge
    finally:
        await knowledge.close()


async def _kb(service: KnowledgeService, email: str = "up@example.com") -> tuple[str, str]:
    owner = await service.ensure_user(email)
    return owner, (await service.create_knowledge_base(owner, "docs")).id


async def _refused(service: KnowledgeService, name: str, data: bytes) -> DocumentParseError:
    owner, kb_id = await _kb(service)
    with pytest.raises(DocumentParseError) as caught:
        await service.add_document(owner, kb_id, name, data)
    assert await service.list_documents(owner, kb_id) == []  # nothing stored
    return caught.value


@SQLITE
async def test_a_file_without_text_is_refused_at_upload(service: KnowledgeService) -> None:
    error = await _refused(service, "empty.html", b"<html><script>track()</script></html>")
    assert error.reason == "the file contains no text"


@SQLITE
async def test_a_truncated_pdf_is_refused_at_upload(service: KnowledgeService) -> None:
    whole = pdf_bytes([["A whole page."], ["And another."]])
    error = await _refused(service, "cut.pdf", whole[: len(whole) // 2])
    assert "the PDF is incomplete" in error.reason


@SQLITE
async def test_a_zip_bomb_is_refused_at_upload(service: KnowledgeService) -> None:
    error = await _refused(service, "bomb.docx", zip_bomb_docx(1 << 30))
    assert isinstance(error, DocumentLimitError)
    assert "expands to more than 128 MB when unzipped" in error.reason


@SQLITE
async def test_a_good_file_is_checked_then_queued_and_indexed(service: KnowledgeService) -> None:
    owner, kb_id = await _kb(service)
    doc = await service.add_document(owner, kb_id, "ok.docx", docx_bytes(["Checked and kept."]))
    assert (doc.created, doc.status) == (True, "queued")
    async with asyncio.timeout(60):
        (done,) = await service.wait_for_documents([doc.id])
    assert done.status == "indexed"


@SQLITE
async def test_a_slow_file_is_accepted_and_fails_in_the_background_with_the_deadline(
    migrated_db: Database,
) -> None:
    service = _service(migrated_db, upload_check_timeout_s=0.5, parse_timeout_s=2.0)
    service.start()
    try:
        owner, kb_id = await _kb(service)
        doc = await service.add_document(owner, kb_id, "slow.pdf", huge_stream_pdf(900_000))
        assert doc.status == "queued"  # the check ran out of time: not a verdict
        async with asyncio.timeout(60):
            (done,) = await service.wait_for_documents([doc.id])
    finally:
        await service.close()
    assert done.status == "failed"
    assert done.error == "cannot read 'slow.pdf': parsing took longer than 2 s"


@SQLITE
async def test_a_file_that_needs_too_much_memory_fails_with_the_limit(
    migrated_db: Database,
) -> None:
    # 1.6 MB of HTML is a million-object tree: far past a 128 MB worker, refused at upload.
    service = _service(migrated_db, parse_memory_bytes=128 * MIB, max_upload_bytes=8 * MIB)
    try:
        owner, kb_id = await _kb(service)
        with pytest.raises(DocumentLimitError) as caught:
            await service.add_document(owner, kb_id, "tags.html", b"<p>x</p>" * 200_000)
    finally:
        await service.close()
    assert caught.value.reason == "parsing needed more than 128 MB of memory"
    assert caught.value.details["setting"] == "SNAPAGENT_KNOWLEDGE_PARSE_MEMORY_BYTES"


def test_the_parser_memory_must_hold_an_upload() -> None:
    with pytest.raises(ValueError, match="at least 64 MiB \\+ 3 x SNAPAGENT_KNOWLEDGE_MAX_UPLOAD"):
        KnowledgeSettings(parse_memory_bytes=128 * MIB, max_upload_bytes=64 * MIB)


@SQLITE
async def test_identical_content_with_a_new_title_says_what_was_kept(
    service: KnowledgeService,
) -> None:
    owner, kb_id = await _kb(service)
    data = docx_bytes(["The same words."])
    first = await service.add_document(owner, kb_id, "first.docx", data, title="First")
    again = await service.add_document(owner, kb_id, "renamed.docx", data, title="Second")
    assert (again.id, again.created, again.title) == (first.id, False, "First")
    assert again.notice == (
        f"identical content is already document {first.id} ('First', uploaded as "
        f"'first.docx', {again.status}); nothing new was stored and the document was kept as "
        "it is - the title 'Second' was not applied (delete the document first to upload it "
        "again)"
    )
    same = await service.add_document(owner, kb_id, "first.docx", data, title="First")
    assert same.notice == (
        f"identical content is already document {first.id} ('First', {same.status}); nothing "
        "new was stored and the document was kept as it is"
    )


# -- the check itself ---------------------------------------------------------------------------


@pytest.fixture
async def parser() -> AsyncIterator[DocumentParser]:
    settings = KnowledgeSettings(
        upload_check_timeout_s=3.0, parse_timeout_s=30, upload_check_workers=2
    )
    checker = DocumentParser(settings)
    await checker.pool.warm_up()  # a cold worker's start-up would eat the check's budget
    try:
        yield checker
    finally:
        await checker.close()


async def test_one_account_checks_one_upload_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # While an account's upload is being checked, its next upload is not checked (it is parsed
    # in the background later) - a flood from one account cannot hold the check workers - while
    # another account's upload is. The first check is held open until the others are decided
    # (no wall-clock race: the budget is generous, a busy machine only makes this slower).
    parser = DocumentParser(KnowledgeSettings(upload_check_timeout_s=60, parse_timeout_s=120))
    parse = parser.parse
    parsed: list[str] = []
    entered, release = asyncio.Event(), asyncio.Event()

    async def held_parse(data: bytes, filename: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(filename)
        if filename == "slow.md":
            entered.set()
            await release.wait()
        return await parse(data, filename, *args, **kwargs)

    monkeypatch.setattr(parser, "parse", held_parse)
    try:
        slow = asyncio.create_task(parser.check("flood", b"# slow", "slow.md"))
        await entered.wait()
        assert await parser.check("flood", b"# next", "next.md") is False
        assert await parser.check("other", b"# theirs", "theirs.md") is True
        assert parsed == ["slow.md", "theirs.md"]  # the flood's next upload took no worker
        release.set()
        assert await slow is True
        assert await parser.check("flood", b"# later", "later.md") is True  # its turn again
    finally:
        await parser.close()


async def test_a_check_past_its_budget_is_left_to_the_background() -> None:
    # This PDF always takes longer than 1 s to read (see the test below); a busy machine only
    # makes it slower. Past the check's budget (shorter than the parse deadline) the upload is
    # accepted and the background parse, with the full deadline, decides.
    parser = DocumentParser(KnowledgeSettings(upload_check_timeout_s=1.0))
    try:
        assert await parser.check("a", huge_stream_pdf(900_000), "slow.pdf") is False
    finally:
        await parser.close()


async def test_a_check_as_long_as_the_deadline_is_a_verdict() -> None:
    strict = DocumentParser(KnowledgeSettings(upload_check_timeout_s=1.0, parse_timeout_s=1.0))
    try:
        with pytest.raises(ParseTimeoutError) as caught:
            await strict.check("a", huge_stream_pdf(900_000), "slow.pdf")
    finally:
        await strict.close()
    assert caught.value.reason == "parsing took longer than 1 s"


async def test_checks_can_be_turned_off() -> None:
    off = DocumentParser(KnowledgeSettings(upload_check_timeout_s=0))
    assert await off.check("a", b"\x00\x01 not text", "x.txt") is False
    await off.close()
