"""`snapagent demo --no-serve`: seeds a usable installation, idempotently."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from snapagent.api.app import create_app
from snapagent.cli import app
from snapagent.cli import demo as demo_cli
from snapagent.db.models.api_keys import ApiKey
from snapagent.db.models.bots import Bot
from snapagent.db.models.knowledge import Document, KnowledgeBase
from snapagent.db.session import Database
from snapagent.llm.embedding import EmbeddingModel
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _embedded_home(
    embedded_home: Path, monkeypatch: pytest.MonkeyPatch, hash_embeddings: EmbeddingModel
) -> None:
    monkeypatch.setenv("SNAPAGENT_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("SNAPAGENT_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("SNAPAGENT_ARGON2_PARALLELISM", "1")
    monkeypatch.setattr(demo_cli, "embedding_resolver", lambda: lambda spec: hash_embeddings)


def _run_demo() -> tuple[str, str]:
    result = runner.invoke(app, ["demo", "--no-serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    key = re.search(r"export SNAPAGENT_API_KEY=(\S+)", result.output)
    bot = re.search(r"Demo ready: bot ([0-9a-f]{32}) \(version 1\)", result.output)
    assert key, result.output
    assert bot, result.output
    assert "curl -s http://127.0.0.1:8123/api/v1/chat" in result.output
    assert "1년 이상 근무하면 연차가 며칠 주어지나요?" in result.output
    return key.group(1), bot.group(1)


async def _counts(data_dir: Path) -> dict[str, int]:
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'snapagent.db'}")
    try:
        async with db.session() as session:
            counts = {}
            for name, model in [
                ("bots", Bot),
                ("kbs", KnowledgeBase),
                ("docs", Document),
                ("keys", ApiKey),
            ]:
                counts[name] = await session.scalar(select(func.count()).select_from(model)) or 0
            return counts
    finally:
        await db.dispose()


async def _use_the_demo(
    data_dir: Path, key: str, bot_id: str, embeddings: EmbeddingModel
) -> dict[str, Any]:
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'snapagent.db'}")
    knowledge = KnowledgeService(db, embeddings=lambda spec: embeddings)
    api = create_app(ServerSettings(), db, core_settings=CoreSettings(), knowledge=knowledge)
    headers = {"Authorization": f"Bearer {key}"}
    transport = httpx.ASGITransport(app=api)
    try:
        async with (
            api.router.lifespan_context(api),
            httpx.AsyncClient(transport=transport, base_url="http://t") as http,
        ):
            versions = (
                await http.get(f"/api/v1/bots/{bot_id}/workflow-versions", headers=headers)
            ).json()
            bot = (await http.get(f"/api/v1/bots/{bot_id}", headers=headers)).json()
            query = await http.post(
                f"/api/v1/knowledge-bases/{bot['knowledge_base_ids'][0]}/query",
                json={"query": "연차 휴가는 며칠", "top_k": 1},
                headers=headers,
            )
            return {"versions": versions, "bot": bot, "hits": query.json()["data"]}
    finally:
        await knowledge.close()
        await db.dispose()


def test_demo_seeds_once_and_prints_working_commands(
    tmp_path: Path, hash_embeddings: EmbeddingModel
) -> None:
    key, bot_id = _run_demo()
    data_dir = tmp_path / "data"
    saved = json.loads((data_dir / "demo-credentials.json").read_text())
    assert saved["api_key"] == key
    assert (data_dir / "demo-credentials.json").stat().st_mode & 0o077 == 0

    again_key, again_bot = _run_demo()
    assert (again_key, again_bot) == (key, bot_id)
    counts = asyncio.run(_counts(data_dir))
    assert counts == {"bots": 1, "kbs": 1, "docs": 3, "keys": 1}

    used = asyncio.run(_use_the_demo(data_dir, key, bot_id, hash_embeddings))
    assert [(v["status"], v["version_number"]) for v in used["versions"]["data"]] == [
        ("published", 1)
    ]
    assert used["bot"]["use_workflow_v2"] is True
    assert used["hits"][0]["document_title"]
    assert "연차" in used["hits"][0]["text"]

    # The demo user is the only account, so the CLI acts as them: the same knowledge base
    # and bot as the console and the API key show.
    kbs = runner.invoke(app, ["kb", "list", "--json"])
    assert kbs.exit_code == 0, kbs.output
    assert [row["id"] for row in json.loads(kbs.stdout)] == used["bot"]["knowledge_base_ids"]
    bots = runner.invoke(app, ["bots", "list", "--json"])
    assert bots.exit_code == 0, bots.output
    assert [row["id"] for row in json.loads(bots.stdout)] == [bot_id]


def test_demo_recovers_from_a_lost_credentials_file(tmp_path: Path) -> None:
    key, bot_id = _run_demo()
    (tmp_path / "data" / "demo-credentials.json").unlink()
    new_key, same_bot = _run_demo()
    assert same_bot == bot_id
    assert new_key != key
