"""Fixtures for migration tests: a migrated database, a seeded set of legacy bots, a full dump."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from snapagent.db.models import load_all_models
from snapagent.db.session import Database
from snapagent.legacy.seed import SeededBots, seed_legacy_bots


async def dump_database(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in a stable order: equal dumps mean nothing was written."""
    out: dict[str, list[dict[str, Any]]] = {}
    async with db.engine.connect() as conn:
        for table in load_all_models().sorted_tables:
            keys = list(table.primary_key.columns) or list(table.columns)
            rows = await conn.execute(select(table).order_by(*keys))
            out[table.name] = [dict(r._mapping) for r in rows]
    return out


@pytest.fixture
async def seeded(migrated_db: Database) -> SeededBots:
    """20 legacy bots: 10 valid, one of each broken kind."""
    return await seed_legacy_bots(
        migrated_db, 20, malformed_share=0.4, rng_seed=5, huge_prompt_chars=50_000
    )
