"""Documents that attack the server - decompression bombs, XML bombs, PDFs that parse for
minutes, one account's flood of uploads - sent to a real `snapagent serve` process.

For each: a clear 4xx at upload or a ``failed`` document with its reason, the server's own
memory flat (parsing happens in worker processes), and ``/health`` answering within 200 ms
while the attack runs. Embeddings come from a fake OpenAI-compatible server (the real wire
protocol), so no model is loaded into the server under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from snapagent.testing.documents import (
    deep_html,
    docx_bytes,
    huge_stream_pdf,
    lying_header_docx,
    pdf_bytes,
    xml_bomb_docx,
    zip_bomb_docx,
)
from snapagent.testing.providers.openai_server import OpenAIFakeServer

from .attack import AttackServer, HealthProbe, attack_server, register

PARSE_TIMEOUT_S = 5
MEMORY_BOUND_MB = 64
"""How much the server process may grow while bombs are uploaded. The zip bombs expand to a
gigabyte each; parsed inside the server, one alone would add at least that."""
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    workdir = tmp_path_factory.mktemp("document-attacks")
    with (
        OpenAIFakeServer(embedding_dimension=8) as embeddings,
        attack_server(
            workdir,
            OPENAI_BASE_URL=embeddings.base_url,
            OPENAI_API_KEY="test-key",
            SNAPAGENT_EMBEDDING_DIMENSION="8",
            SNAPAGENT_KNOWLEDGE_PARSE_TIMEOUT_S=str(PARSE_TIMEOUT_S),
            SNAPAGENT_KNOWLEDGE_UPLOAD_CHECK_TIMEOUT_S="1",
        ) as running,
    ):
        asyncio.run(_warm_up(running))
        yield running


async def _warm_up(server: AttackServer) -> None:
    """One document through every step, so the attacks meet a warm server: first requests
    pay one-off costs on the event loop (FastAPI builds a router's routes on first match, the
    embedding client imports its SDK on first use) that are not what these tests measure."""
    async with account(server) as first:
        response = await first.upload("warm.md", b"# Warm\n\nUp.", "text/markdown")
        await first.settled(response.raise_for_status().json()["id"], 60)
        await first.http.get(f"/api/v1/knowledge-bases/{first.kb_id}/documents")


@dataclass
class Account:
    """A registered account with a knowledge base, and one HTTP client for the test: a new
    client per request would cost this process's event loop an SSL context each time, and
    the /health probe shares that loop."""

    headers: dict[str, str]
    kb_id: str
    http: httpx.AsyncClient

    async def upload(self, name: str, data: bytes, content_type: str) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/knowledge-bases/{self.kb_id}/documents",
            files={"file": (name, data, content_type)},
        )

    async def document(self, document_id: str) -> dict[str, Any]:
        url = f"/api/v1/knowledge-bases/{self.kb_id}/documents/{document_id}"
        return dict((await self.http.get(url)).raise_for_status().json())

    async def settled(self, document_id: str, within_s: float) -> dict[str, Any]:
        async with asyncio.timeout(within_s):
            while True:
                doc = await self.document(document_id)
                if doc["status"] in ("indexed", "failed"):
                    return doc
                await asyncio.sleep(0.1)


_emails = (f"doc-attacker-{n}@example.com" for n in itertools.count())


@contextlib.asynccontextmanager
async def account(server: AttackServer) -> AsyncIterator[Account]:
    headers = register(server, next(_emails))
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        kb = await http.post(
            "/api/v1/knowledge-bases", json={"name": "docs", "embedding_model": "openai:embed"}
        )
        yield Account(headers, kb.raise_for_status().json()["id"], http)


NewAccount = Callable[[], Awaitable[Account]]


@pytest.fixture
async def accounts(server: AttackServer) -> AsyncIterator[NewAccount]:
    """Makes accounts (each with its client), closed when the test ends."""
    async with contextlib.AsyncExitStack() as stack:

        async def new() -> Account:
            return await stack.enter_async_context(account(server))

        yield new


def refused(response: httpx.Response, reason: str) -> None:
    """A 422 problem naming the file field and the reason, nothing stored."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert reason in problem["detail"], problem
    assert problem["errors"][0]["field"] == "file"


def _claims_parts(docx: bytes, parts: int) -> bytes:
    """``docx`` with an end-of-central-directory record claiming ``parts`` members."""
    data = bytearray(docx)
    end = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, end + 8, parts, parts)
    return bytes(data)


# -- the server's own memory ----------------------------------------------------------------


@dataclass
class PeakMemory:
    """The peak resident memory of one process while the ``with`` body runs: the kernel's
    high-water mark (reset at the start through ``/proc/<pid>/clear_refs``) and, in case the
    reset is not allowed, VmRSS sampled every 5 ms."""

    pid: int
    baseline_kb: int = 0
    peak_kb: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _read(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        raise KeyError(key)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak_kb = max(self.peak_kb, self._read("VmRSS"))

    def __enter__(self) -> PeakMemory:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self.baseline_kb = self.peak_kb = self._read("VmRSS")
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_kb = max(self.peak_kb, self._read("VmHWM"))

    @property
    def growth_mb(self) -> float:
        return (self.peak_kb - self.baseline_kb) / 1024


async def test_zip_bombs_are_refused_at_upload_and_the_server_does_not_grow(
    server: AttackServer, accounts: NewAccount
) -> None:
    alice = await accounts()
    # Warm up first: the parser's worker processes start, the upload path is imported.
    warm = await alice.upload("warm.docx", docx_bytes(["warm"]), DOCX)
    assert warm.status_code == 201, warm.text
    # Built before the probe starts: building them would block this test's own event loop.
    bombs = {
        "bomb.docx": (zip_bomb_docx(1 << 30), "the DOCX expands to more than 128 MB when unzipped"),
        "liar.docx": (lying_header_docx(1 << 30, 1000), "corrupt DOCX (part 'word/media/"),
        "ratio.docx": (zip_bomb_docx(64 << 20), "a decompression bomb?"),
        "parts.docx": (_claims_parts(docx_bytes(["parts"]), 60_000), "has 60000 parts"),
    }
    answers: list[tuple[httpx.Response, str]] = []
    async with HealthProbe(server.base) as probe:
        with PeakMemory(server.server.process.pid) as memory:
            for _ in range(3):  # again and again: nothing accumulates either
                for name, (data, reason) in bombs.items():
                    answers.append((await alice.upload(name, data, DOCX), reason))
    probe.assert_responsive()
    for response, reason in answers:
        refused(response, reason)
    assert memory.growth_mb < MEMORY_BOUND_MB, (memory.baseline_kb, memory.peak_kb)
    listed = await alice.http.get(f"/api/v1/knowledge-bases/{alice.kb_id}/documents")
    assert [d["filename"] for d in listed.json()["data"]] == ["warm.docx"]


async def test_xml_bombs_are_refused_or_bounded(server: AttackServer, accounts: NewAccount) -> None:
    bob = await accounts()
    lols = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    html_bomb = f'<!DOCTYPE html [<!ENTITY l0 "lol">{lols}]><html><body><p>x &l9;</p></body></html>'
    xml_bomb, deep_page = xml_bomb_docx(12), deep_html(30_000)
    async with HealthProbe(server.base) as probe:
        docx_bomb = await bob.upload("lol.docx", xml_bomb, DOCX)
        html = await bob.upload("lol.html", html_bomb.encode(), "text/html")
        deep = await bob.upload("deep.html", deep_page, "text/html")
        assert html.status_code == deep.status_code == 201, (html.text, deep.text)
        html_doc = await bob.settled(html.json()["id"], 60)
        deep_doc = await bob.settled(deep.json()["id"], 60)
    probe.assert_responsive()
    refused(docx_bomb, "declares a document type (DTD)")
    assert html_doc["status"] == deep_doc["status"] == "indexed", (html_doc, deep_doc)
    assert html_doc["chunks_total"] == deep_doc["chunks_total"] == 1  # nothing expanded


async def test_a_pdf_that_parses_for_minutes_fails_at_the_deadline(
    server: AttackServer, accounts: NewAccount
) -> None:
    carol = await accounts()
    slow = huge_stream_pdf(3_000_000)
    async with HealthProbe(server.base) as probe:
        started = time.monotonic()
        response = await carol.upload("slow.pdf", slow, "application/pdf")
        assert response.status_code == 201, response.text  # the 1 s check could not decide
        doc = await carol.settled(response.json()["id"], PARSE_TIMEOUT_S + 30)
        elapsed = time.monotonic() - started
    probe.assert_responsive()
    assert doc["status"] == "failed"
    assert doc["error"] in (
        f"cannot read 'slow.pdf': parsing took longer than {PARSE_TIMEOUT_S} s",
        "cannot read 'slow.pdf': a page of the PDF has more than 1,000,000 drawing operations",
    )
    assert elapsed < PARSE_TIMEOUT_S + 15


async def test_a_truncated_pdf_and_a_file_without_text_are_refused_at_upload(
    server: AttackServer, accounts: NewAccount
) -> None:
    dave = await accounts()
    whole = pdf_bytes([["First page."], ["Second page."]])
    refused(await dave.upload("cut.pdf", whole[:-40], "application/pdf"), "the PDF is incomplete")
    refused(await dave.upload("blank.md", b"---\n\n***\n", "text/markdown"), "contains no text")


async def test_one_accounts_flood_does_not_hold_up_another_account(
    server: AttackServer, accounts: NewAccount
) -> None:
    flood, quiet = await accounts(), await accounts()
    # Slow PDFs (each burns the whole parse deadline), distinct so that none is a duplicate.
    slow = [huge_stream_pdf(3_000_000 + 10_000 * i) for i in range(12)]
    async with HealthProbe(server.base) as probe:
        uploads = await asyncio.gather(
            *(flood.upload(f"slow-{i}.pdf", data, "application/pdf") for i, data in enumerate(slow))
        )
        assert {r.status_code for r in uploads} == {201}, [r.text for r in uploads]
        await asyncio.sleep(1)  # the flood holds its share of the ingestion slots
        started = time.monotonic()
        mine = await quiet.upload("mine.md", b"# Mine\n\nA small document.", "text/markdown")
        assert mine.status_code == 201, mine.text
        done = await quiet.settled(mine.json()["id"], 30)
        waited = time.monotonic() - started
        flood_states = [(await flood.document(r.json()["id"]))["status"] for r in uploads]
    probe.assert_responsive()
    assert done["status"] == "indexed"
    # Oldest-first, one at a time, it would wait for 12 x 5 s; it waited for no one.
    assert waited < PARSE_TIMEOUT_S, waited
    assert flood_states.count("queued") >= 6, flood_states
