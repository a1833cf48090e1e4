"""Fill a database with legacy (V1) bots - valid and malformed - for migration tests and benches.

    db = Database(url)
    await upgrade(db)
    seeded = await seed_legacy_bots(db, 1000, malformed_share=0.05, rng_seed=1)
    seeded.valid_ids, seeded.malformed_ids

Bots are inserted in bulk (one statement per batch) so 10,000 bots take a second or two.
Every broken kind (:data:`~snapagent.legacy.samples.MALFORMED` V1 graphs and
:data:`~snapagent.legacy.samples.V2_INCOMPATIBLE` ones) appears at least once when there is room.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, insert, null, select

from snapagent.db.base import new_id, utcnow
from snapagent.db.models import load_all_models
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.session import Database
from snapagent.legacy.samples import MALFORMED, V2_INCOMPATIBLE, generated_workflow

__all__ = ["SeededBots", "dump_database", "seed_legacy_bots"]

_BATCH = 1000
SEED_OWNER_EMAIL = "legacy-owner@snapagent.invalid"


@dataclass(slots=True)
class SeededBots:
    owner_id: str
    valid_ids: list[str] = field(default_factory=list)
    # bot id -> the broken kind its workflow was made from (migration must fail them)
    malformed_ids: dict[str, str] = field(default_factory=dict)

    @property
    def all_ids(self) -> list[str]:
        return [*self.valid_ids, *self.malformed_ids]


async def _owner(db: Database) -> str:
    users = cast(Table, User.__table__)
    async with db.transaction() as session:
        found = (
            await session.execute(select(users.c.id).where(users.c.email == SEED_OWNER_EMAIL))
        ).scalar_one_or_none()
        if found is not None:
            return str(found)
        owner_id = new_id()
        await session.execute(
            insert(users).values(id=owner_id, email=SEED_OWNER_EMAIL, created_at=utcnow())
        )
        return owner_id


async def seed_legacy_bots(
    db: Database,
    count: int,
    *,
    malformed_share: float = 0.0,
    rng_seed: int = 0,
    huge_prompt_chars: int = 60_000,
) -> SeededBots:
    """Insert ``count`` V1 bots (``use_workflow_v2`` off); about ``malformed_share`` of them
    carry a broken workflow, cycling through every malformed kind."""
    rng = random.Random(rng_seed)
    seeded = SeededBots(owner_id=await _owner(db))
    broken = MALFORMED | V2_INCOMPATIBLE
    kinds = sorted(broken)
    malformed_total = round(count * malformed_share)
    if malformed_share > 0:
        malformed_total = max(malformed_total, min(count, len(kinds)))
    broken_at = set(rng.sample(range(count), malformed_total))
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for i in range(count):
        bot_id = new_id()
        if i in broken_at:
            kind = kinds[len(seeded.malformed_ids) % len(kinds)]
            workflow = broken[kind]()
            seeded.malformed_ids[bot_id] = kind
        else:
            workflow = generated_workflow(rng, huge_prompt_chars=huge_prompt_chars)
            seeded.valid_ids.append(bot_id)
        rows.append(
            {
                "id": bot_id,
                "owner_id": seeded.owner_id,
                "name": f"레거시 봇 {i} ✨",
                "description": "seeded legacy bot",
                "default_model": None,
                "knowledge_base_ids": [],
                "workflow": workflow,
                "legacy_workflow": null(),
                "use_workflow_v2": False,
                "v2_rollout_percent": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    for start in range(0, len(rows), _BATCH):
        async with db.transaction() as session:
            await session.execute(insert(cast(Table, Bot.__table__)), rows[start : start + _BATCH])
    return seeded


async def dump_database(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table in a stable order: equal dumps mean nothing was written
    (how tests and scripts/test_migration.py prove that a dry run writes nothing)."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with db.engine.connect() as conn:
        for table in load_all_models().sorted_tables:
            keys = list(table.primary_key.columns) or list(table.columns)
            rows = await conn.execute(select(table).order_by(*keys))
            out[table.name] = [dict(r._mapping) for r in rows]
    return out
