"""Inputs crafted against regular expressions, sent to a real `snapagent serve`.

`test_regex_backtracking.py` proves every pattern linear in isolation; these send the inputs
that made the old patterns explode through the HTTP surface, where they would have held the
event loop: upload sniffing (a few KB of ``<!---->`` backtracked exponentially), the offline
model's question label (``\\n`` runs, quadratic) and its parameter extraction (a long word
without ``@``, quadratic for emails). Each gets its normal answer quickly while ``/health``
keeps answering within 200 ms.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .attack import AttackServer, HealthProbe, attack_server, publish, register

ANSWER_BUDGET_S = 10.0
"""Each attack request must be answered within this (it was minutes, or never)."""
MESSAGE_CHARS = 8_000  # the chat message limit (SNAPAGENT_CHAT_MAX_MESSAGE_CHARS)

EXTRACTOR_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "start"},
        {
            "id": "extract",
            "type": "parameter_extractor",
            "config": {
                "model": "offline",
                "parameters": [
                    {"name": "email", "description": "customer e-mail", "required": False},
                    {"name": "phone", "description": "phone number", "required": False},
                    {"name": "order_id", "type": "integer", "description": "the order number"},
                    {"name": "delivery_date", "description": "delivery date", "required": False},
                ],
            },
            "inputs": {"query": {"selector": ["start", "query"]}},
        },
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [
        {"source": "extract", "source_port": "reason", "target": "end", "target_port": "answer"}
    ],
}
OFFLINE_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "llm", "type": "llm", "config": {"model": "offline", "prompt": "{{ query }}"}},
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [
        {"source": "start", "source_port": "query", "target": "llm", "target_port": "query"},
        {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"},
    ],
}


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    """A fake OpenAI-compatible server in its own process (embeddings for the uploads)."""
    with subprocess.Popen(
        [sys.executable, "-m", "snapagent.testing.providers", "openai"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
        process.terminate()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_openai: str) -> Iterator[AttackServer]:
    env = {"OPENAI_BASE_URL": fake_openai, "OPENAI_API_KEY": "sk-test-fake-key"}
    with attack_server(tmp_path_factory.mktemp("regex-attacks"), **env) as running:
        yield running


@pytest.fixture(scope="module")
def headers(server: AttackServer) -> dict[str, str]:
    return register(server, "regex@example.com")


async def _timed(request: Any) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    response = await request
    return response, time.perf_counter() - began


@pytest.mark.parametrize(
    "content",
    [
        b"<!---->" * 600 + b"!",  # 4 KB of empty comments, then no tag: exponential before
        b"<!-- -->\n" * 450 + b"x",
        b"<!--" * 1000,
        b" " * 4_000 + b"<!---->" * 10,
    ],
    ids=["empty-comments", "spaced-comments", "unclosed", "spaces-then-comments"],
)
async def test_upload_sniffing_answers_at_once(
    server: AttackServer, headers: dict[str, str], content: bytes
) -> None:
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=120) as http:
        # Embeddings from a fake OpenAI server in its own process: the local model's CPU use
        # during ingestion (a different concern, docs/security.md "Documents") does not blur
        # what is measured here - the request path that sniffs the bytes.
        name = f"sniff {len(content)} {content[:12]!r}"
        body = {"name": name, "embedding_model": "openai:text-embedding-3-small"}
        kb = (await http.post("/api/v1/knowledge-bases", json=body)).raise_for_status().json()
        url = f"/api/v1/knowledge-bases/{kb['id']}/documents"
        async with HealthProbe(server.base) as probe:
            began = time.perf_counter()
            for n in range(50):  # at least 3, and for at least a second (the probe's turn)
                if n >= 3 and time.perf_counter() - began > 1.0:
                    break
                # No extension and no type: the bytes decide, by sniffing. Each upload differs
                # (identical content would be answered from the first one).
                named = (f"upload{n}", content + str(n).encode())
                response, elapsed = await _timed(http.post(url, files={"file": named}))
                assert response.status_code in (201, 415, 422), response.text
                assert elapsed < ANSWER_BUDGET_S
        probe.assert_responsive()


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (OFFLINE_GRAPH, "\n" * (MESSAGE_CHARS - 20) + "question: why?"),
        (OFFLINE_GRAPH, "q" + "\n" * (MESSAGE_CHARS - 1)),
        (EXTRACTOR_GRAPH, "a" * MESSAGE_CHARS),  # a word with no "@": emails were quadratic
        (EXTRACTOR_GRAPH, "a." * (MESSAGE_CHARS // 2)),
        (EXTRACTOR_GRAPH, "1(" * (MESSAGE_CHARS // 2)),
        (EXTRACTOR_GRAPH, "delivery date " * (MESSAGE_CHARS // 14)),
    ],
    ids=["newlines-then-label", "label-then-newlines", "long-word", "dotted", "digits", "labels"],
)
async def test_offline_model_text_scans_answer_at_once(
    server: AttackServer, headers: dict[str, str], graph: dict[str, Any], message: str
) -> None:
    bot_id = publish(server, headers, graph)
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=120) as http:
        # One ordinary chat first: the first run of a bot compiles its plan and imports the
        # node's modules, one-time work that is not the attack.
        warm = await http.post("/api/v1/chat", json={"bot_id": bot_id, "message": "hello"})
        assert warm.status_code == 200, warm.text
        async with HealthProbe(server.base) as probe:
            began = time.perf_counter()
            for sent in range(50):  # at least 3, and for at least a second (the probe's turn)
                if sent >= 3 and time.perf_counter() - began > 1.0:
                    break
                chat = http.post("/api/v1/chat", json={"bot_id": bot_id, "message": message})
                response, elapsed = await _timed(chat)
                assert response.status_code == 200, response.text
                assert elapsed < ANSWER_BUDGET_S
        probe.assert_responsive()
