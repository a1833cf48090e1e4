"""Rows a test starts from, written to a real database as the services write them.

    user_id, bot_id = await user_and_bot(db)

Each call makes a new user (an e-mail of its own, so calls never collide) and an empty bot of
theirs - no workflow, no knowledge base, no version: what sessions, runs and statistics hang
from. Tests that need a published bot make one through `BotService` instead.
"""

from __future__ import annotations

from snapagent.db.base import new_id
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.session import Database

__all__ = ["user_and_bot"]


async def user_and_bot(db: Database, *, bot_name: str = "bot") -> tuple[str, str]:
    """A new user and a bot of theirs, committed; their ids ``(user_id, bot_id)``."""
    async with db.transaction() as session:
        user = User(email=f"{new_id()}@example.com")
        session.add(user)
        await session.flush()
        bot = Bot(owner_id=user.id, name=bot_name, knowledge_base_ids=[])
        session.add(bot)
        await session.flush()
        return user.id, bot.id
