"""Seed (or find again) the demo: user, API key, knowledge base, published bot.

Idempotent: a second run finds everything the first created. The demo user's password and API
key are kept in ``<data_dir>/demo-credentials.json`` (mode 0600) so every run can print them;
if that file is lost, a new password and key are issued and the old key stays valid until
revoked.

    setup = await seed_demo(db, knowledge, credentials, registry, data_dir)
    print(setup.api_key, setup.bot_id)
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.errors import AuthenticationError, NotFoundError
from snapagent.private_files import make_private_dir
from snapagent.services.accounts import AccountService, Credentials
from snapagent.services.bots import BotService
from snapagent.services.knowledge import DocumentInfo, KnowledgeService
from snapagent.workflow.node import NodeRegistryV2

__all__ = ["DEMO_BOT", "DEMO_EMAIL", "DEMO_KB", "DemoSetup", "demo_documents", "seed_demo"]

DEMO_EMAIL = "demo@snapagent.local"
DEMO_KB = "demo-handbook"
DEMO_BOT = "Demo assistant"
_CREDENTIALS_FILE = "demo-credentials.json"


@dataclass(frozen=True, slots=True)
class DemoSetup:
    email: str
    password: str
    api_key: str
    knowledge_base_id: str
    bot_id: str
    version_number: int
    documents: list[DocumentInfo]


def demo_documents() -> list[tuple[str, bytes]]:
    """The bundled documents as (filename, content), in a stable order."""
    folder = resources.files("snapagent.demo") / "documents"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".md")), key=lambda f: f.name)
    return [(f.name, f.read_bytes()) for f in files]


def _load_saved(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(path: Path, data: dict[str, str]) -> None:
    make_private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    tmp.replace(path)


async def _ensure_account(
    session: AsyncSession, credentials: Credentials, saved: dict[str, Any]
) -> tuple[User, str, str]:
    accounts = AccountService(session, credentials)
    user = await session.scalar(select(User).where(User.email == DEMO_EMAIL))
    password = saved.get("password")
    if user is None:
        password = password or secrets.token_urlsafe(12)
        user = await accounts.register(DEMO_EMAIL, password)
    elif not isinstance(password, str) or not credentials.verify_password(
        user.password_hash, password
    ):
        password = secrets.token_urlsafe(12)
        user.password_hash = credentials.hash_password(password)
        await session.commit()
    api_key = saved.get("api_key")
    if isinstance(api_key, str):
        try:
            if (await accounts.authenticate(api_key)).id == user.id:
                return user, password, api_key
        except AuthenticationError:
            pass
    issued = await accounts.create_api_key(user, "demo")
    return user, password, issued.secret


async def seed_demo(
    db: Database,
    knowledge: KnowledgeService,
    credentials: Credentials,
    registry: NodeRegistryV2,
    data_dir: Path,
) -> DemoSetup:
    """Create what is missing and return the demo's coordinates (``knowledge`` must be started)."""
    path = data_dir / _CREDENTIALS_FILE
    async with db.session() as session:
        user, password, api_key = await _ensure_account(session, credentials, _load_saved(path))
    _save(path, {"password": password, "api_key": api_key})

    try:
        kb_id = (await knowledge.get_knowledge_base(user.id, DEMO_KB)).id
    except NotFoundError:
        kb = await knowledge.create_knowledge_base(
            user.id, DEMO_KB, description="SnapAgent demo documents (English and Korean)"
        )
        kb_id = kb.id
    uploaded = [
        await knowledge.add_document(user.id, kb_id, name, data, content_type="text/markdown")
        for name, data in demo_documents()
    ]
    documents = await knowledge.wait_for_documents([d.id for d in uploaded])

    async with db.session() as session:
        bots = BotService(session, registry)
        owner = await session.get(User, user.id)
        assert owner is not None
        bot = next(iter(await bots.named(owner, DEMO_BOT)), None)
        if bot is None:
            bot = await bots.create(
                owner,
                name=DEMO_BOT,
                description="Answers from the demo handbook.",
                knowledge_base_ids=[kb_id],
            )
        published = await bots.versions.published(bot.id)
        if published is None:
            draft = await bots.versions.current_draft(owner, bot.id)
            assert draft is not None  # a new bot comes with one
            published = await bots.versions.publish(owner, bot.id, draft.id)
        assert published.version_number is not None
        return DemoSetup(
            email=DEMO_EMAIL,
            password=password,
            api_key=api_key,
            knowledge_base_id=kb_id,
            bot_id=bot.id,
            version_number=published.version_number,
            documents=documents,
        )
