"""Fixtures for migration tests: a seeded set of legacy bots on the migrated database."""

from __future__ import annotations

import pytest

from snapagent.db.session import Database
from snapagent.legacy.seed import SeededBots, dump_database, seed_legacy_bots

__all__ = ["dump_database"]


@pytest.fixture
async def seeded(migrated_db: Database) -> SeededBots:
    """20 legacy bots: 10 valid, one of each broken kind."""
    return await seed_legacy_bots(
        migrated_db, 20, malformed_share=0.4, rng_seed=5, huge_prompt_chars=50_000
    )
