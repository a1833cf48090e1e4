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
    else: graph, registry = prepare_v1_run(bot.workflow)   # snapagent.legacy.adapter
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from snapagent.errors import ConflictError

__all__ = [
    "BUCKETS",
    "Engine",
    "RolloutDecision",
    "choose_engine",
    "has_v1_workflow",
    "rollout_bucket",
    "v1_version_key",
]

Engine = Literal["v1", "v2"]
# Buckets per bot: 10,000 gives the share a resolution of 0.01 %.
BUCKETS: Final = 10_000


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


def v1_version_key(bot_id: str, workflow: Any) -> str:
    """A cache key for a bot's compiled V1 graph that changes whenever the workflow changes
    (for plan caches keyed by version id, such as ``BotRuntime.compile``)."""
    canonical = json.dumps(workflow, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"v1:{bot_id}:{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"
