"""Gradual rollout: which engine (V1 or V2) answers one chat request.

A bot whose V2 is switched on (``use_workflow_v2``) and published sends ``v2_rollout_percent``
of its sessions to V2 and the rest to its legacy V1 workflow. The choice hashes the bot id and
the session id with SHA-256, so it is the same in every process and on every replica, and a
conversation never flips engine mid-way; raising the share only moves sessions from V1 to V2.

    decision = choose_engine(
        bot_id=bot.id, session_id=session_key,
        use_workflow_v2=bot.use_workflow_v2, v2_rollout_percent=bot.v2_rollout_percent,
        has_published_v2=published is not None, v1_workflow=bot.workflow,
    )
    if decision.engine == "v2": ...run the published version...
    else: compiled = compile_v1(runtime, bot.id, bot.workflow)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import utcnow
from snapagent.db.models.bots import Bot
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.errors import ConflictError
from snapagent.legacy.adapter import v1_adapter_graph
from snapagent.services.statistics import StatisticsService

if TYPE_CHECKING:
    from snapagent.services.runtime import BotRuntime, CompiledVersion

__all__ = [
    "BUCKETS",
    "SUCCESS_GOAL",
    "Engine",
    "EngineRuns",
    "MigrationStatus",
    "RolloutDecision",
    "choose_engine",
    "compile_v1",
    "has_v1_workflow",
    "legacy_workflow_effect",
    "migration_status",
    "rollout_bucket",
    "v1_version_key",
]

Engine = Literal["v1", "v2"]
# Buckets per bot: 10,000 gives the share a resolution of 0.01 %.
BUCKETS: Final = 10_000
# The seed's goal for V2 before the share goes up (and the line for rolling back).
SUCCESS_GOAL: Final = 0.99


@dataclass(frozen=True, slots=True)
class RolloutDecision:
    """The engine for one request and why (the reason is for logs and run records)."""

    engine: Engine
    reason: str
    bucket: int | None = None


def rollout_bucket(bot_id: str, session_id: str) -> int:
    """A stable bucket in ``[0, BUCKETS)`` for a bot's session (SHA-256, never ``hash()``,
    which is salted per process)."""
    digest = hashlib.sha256(f"{bot_id}\x00{session_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def has_v1_workflow(workflow: Any) -> bool:
    """True when a bot carries a legacy workflow (``bots.workflow`` is not empty)."""
    return isinstance(workflow, dict) and bool(workflow.get("nodes"))


def choose_engine(
    *,
    bot_id: str,
    session_id: str,
    use_workflow_v2: bool,
    v2_rollout_percent: int,
    has_published_v2: bool,
    v1_workflow: Any,
) -> RolloutDecision:
    """V1 or V2 for this request.

    - V2 off or nothing published: V1 (the bot keeps answering as before).
    - V2 on and published, no V1 workflow (a bot born on V2): V2, whatever the share.
    - Both available: V2 for the sessions whose bucket is below the share, V1 for the rest.

    Raises :class:`ConflictError` when the bot can run neither.
    """
    has_v1 = has_v1_workflow(v1_workflow)
    v2_ready = use_workflow_v2 and has_published_v2
    if not v2_ready:
        if has_v1:
            reason = "V2 is switched off" if not use_workflow_v2 else "no published V2 version"
            return RolloutDecision("v1", reason)
        if use_workflow_v2:
            raise ConflictError(
                f"bot {bot_id} has no published V2 workflow version: publish its draft first"
            )
        raise ConflictError(
            f"bot {bot_id} has V2 switched off and no legacy (V1) workflow: "
            "publish a V2 version and set use_workflow_v2"
        )
    if not has_v1:
        return RolloutDecision("v2", "the bot has no V1 workflow")
    bucket = rollout_bucket(bot_id, session_id)
    if bucket < max(0, min(100, v2_rollout_percent)) * (BUCKETS // 100):
        return RolloutDecision("v2", f"session in the {v2_rollout_percent}% V2 share", bucket)
    return RolloutDecision("v1", f"session outside the {v2_rollout_percent}% V2 share", bucket)


def legacy_workflow_effect(
    *, use_workflow_v2: bool, v2_rollout_percent: int, has_published_v2: bool, v1_workflow: Any
) -> str:
    """What chat does with a bot's V1 workflow, in words: the rules of `choose_engine`
    applied to every session at once (the V1 API answers it with the workflow)."""
    if not has_v1_workflow(v1_workflow):
        return "the bot has no V1 workflow; chat runs its published V2 version"
    if not use_workflow_v2:
        return "chat runs this V1 workflow for every session (use_workflow_v2 is false)"
    if not has_published_v2:
        return (
            "chat runs this V1 workflow for every session until a V2 version is published "
            "(use_workflow_v2 is true)"
        )
    share = max(0, min(100, v2_rollout_percent))
    if share == 100:
        return (
            "stored but not run: use_workflow_v2 is true and v2_rollout_percent is 100, so chat "
            "runs the published V2 version for every session (lower the share or switch V2 off "
            "to run it)"
        )
    return (
        f"chat runs this V1 workflow for {100 - share}% of sessions and the published V2 "
        f"version for the other {share}% (v2_rollout_percent)"
    )


def v1_version_key(bot_id: str, workflow: Any) -> str:
    """A cache key for a bot's compiled V1 graph that changes whenever the workflow changes
    (for plan caches keyed by version id, such as ``BotRuntime.compile``)."""
    canonical = json.dumps(workflow, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"v1:{bot_id}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def compile_v1(runtime: BotRuntime, bot_id: str, workflow: Any) -> CompiledVersion:
    """A bot's V1 workflow compiled for ``ChatService`` exactly like a published version:
    the NodeAdapter graph on the runtime's legacy registry (built once at start-up; the V2
    registry never learns the adapters), cached by the workflow's content. Retrieval is
    scoped to the bot's owner like any run's. Raises ``LegacyWorkflowError``."""
    graph = v1_adapter_graph(workflow)
    return runtime.compile_legacy(v1_version_key(bot_id, workflow), graph.to_json())


class EngineRuns(BaseModel):
    """Runs of one engine in the window; ``success_rate`` ignores cancelled runs (a client
    that hung up is not a failure) and is null without runs. ``avg_elapsed_ms`` averages the
    succeeded runs (as the statistics' latency does) and is null without runs. Both are the
    ``goal_success_rate`` and ``avg_latency_ms`` of the statistics' ``by_engine``."""

    engine: Engine = Field(description="`v1` or `v2`.")
    runs: int = Field(default=0, description="Chat runs of this engine in the window.")
    succeeded: int = Field(default=0, description="Runs that finished with an answer.")
    failed: int = Field(default=0, description="Runs that ended in an error.")
    cancelled: int = Field(default=0, description="Runs cut short (the client hung up).")
    success_rate: float | None = Field(
        default=None,
        description="succeeded / (succeeded + failed), 0.0 to 1.0; null without such runs.",
    )
    avg_elapsed_ms: float | None = Field(
        default=None,
        description="Mean duration of the succeeded runs, in milliseconds; null without runs.",
    )


class MigrationStatus(BaseModel):
    """Where the caller's bots stand in the V1 -> V2 migration (each bot counted once)."""

    total_bots: int = Field(description="Your bots, each counted once below.")
    v1_only: int = Field(description="V1 workflow, not migrated yet")
    migrated_draft: int = Field(description="migrated to a V2 draft, nothing published")
    published: int = Field(description="a V2 version is published, V2 still switched off")
    v2_enabled: int = Field(description="V2 switched on with a published version")
    v2_unpublished: int = Field(description="V2 switched on, no V1 workflow, nothing published")
    v2_enabled_by_rollout_percent: dict[str, int] = Field(
        description="V2-enabled bots that keep a V1 fallback, by share of sessions on V2; "
        "bots without a V1 workflow count under 100"
    )
    window_start: datetime = Field(description="Start of the runs' window (UTC, 24 hours).")
    window_end: datetime = Field(description="End of the window: the time of the request (UTC).")
    v1: EngineRuns = Field(description="Your bots' V1 runs in the window.")
    v2: EngineRuns = Field(description="Your bots' V2 runs in the window.")
    success_goal: float = Field(
        default=SUCCESS_GOAL,
        description="The success rate V2 must reach (0.99, the migration plan's goal).",
    )
    v2_meets_goal: bool | None = Field(description="null until V2 has runs in the window")


async def migration_status(
    session: AsyncSession, owner_id: str, *, now: datetime | None = None, hours: int = 24
) -> MigrationStatus:
    """Counts for ``GET /api/v1/migration/status`` over the owner's bots, and V1/V2 run
    success over the last ``hours``."""
    end = now or utcnow()
    start = end - timedelta(hours=hours)
    bots = (
        await session.execute(
            select(
                Bot.id,
                Bot.use_workflow_v2,
                Bot.v2_rollout_percent,
                (Bot.workflow.is_not(None) & (cast(Bot.workflow, Text) != "null")).label("v1"),
                (
                    Bot.legacy_workflow.is_not(None) & (cast(Bot.legacy_workflow, Text) != "null")
                ).label("backup"),
            ).where(Bot.owner_id == owner_id)
        )
    ).all()
    owned = select(Bot.id).where(Bot.owner_id == owner_id).scalar_subquery()
    versions = BotWorkflowVersion
    published = set(
        await session.scalars(
            select(versions.bot_id)
            .where(versions.bot_id.in_(owned), versions.status == "published")
            .distinct()
        )
    )
    by_migration = set(
        await session.scalars(
            select(versions.bot_id)
            .where(versions.bot_id.in_(owned), versions.source == "migration")
            .distinct()
        )
    )
    counts = dict.fromkeys(
        ("v1_only", "migrated_draft", "published", "v2_enabled", "v2_unpublished"), 0
    )
    shares: dict[str, int] = {}
    for bot in bots:
        if bot.use_workflow_v2 and bot.id in published:
            counts["v2_enabled"] += 1
            share = bot.v2_rollout_percent if bot.v1 else 100
            shares[str(share)] = shares.get(str(share), 0) + 1
        elif bot.id in published:
            counts["published"] += 1
        elif bot.backup or bot.id in by_migration:
            counts["migrated_draft"] += 1
        elif bot.v1:
            counts["v1_only"] += 1
        else:
            counts["v2_unpublished"] += 1
    engines = await _engine_runs(session, owned, start, end)
    rate = engines["v2"].success_rate
    return MigrationStatus(
        total_bots=len(bots),
        **counts,
        v2_enabled_by_rollout_percent=dict(sorted(shares.items(), key=lambda kv: int(kv[0]))),
        window_start=start,
        window_end=end,
        v1=engines["v1"],
        v2=engines["v2"],
        v2_meets_goal=None if rate is None else rate >= SUCCESS_GOAL,
    )


async def _engine_runs(
    session: AsyncSession, owned: Any, start: datetime, end: datetime
) -> dict[str, EngineRuns]:
    # The same aggregates as the statistics' ``by_engine``, so the two endpoints agree.
    run = WorkflowExecutionRun
    found = await StatisticsService(session).engines(
        [run.bot_id.in_(owned), run.started_at >= start, run.started_at < end]
    )
    out: dict[str, EngineRuns] = {}
    for engine in ("v1", "v2"):
        stats = found.get(engine)
        out[engine] = (
            EngineRuns(engine=engine)
            if stats is None
            else EngineRuns(
                engine=engine,
                runs=stats.runs,
                succeeded=stats.succeeded,
                failed=stats.failed,
                cancelled=stats.cancelled,
                success_rate=stats.goal_success_rate,
                avg_elapsed_ms=stats.avg_latency_ms,
            )
        )
    return out
