"""The names of the run-level values (``sys.*``) the engine and nodes read, declared once.

    from snapagent.workflow.system_names import DEFAULT_MODEL
    ctx.sys.get(DEFAULT_MODEL)                  # the bot's default model, when the run has one

Only the names live here, so nodes (which may not import services) and the services that build
a run's ``sys`` share them. What each value is, its port type and which runs get it are declared
with them in `snapagent.services.system_values` (``SYSTEM_VALUES``), which `GET /node-types`
sends; a test keeps the two lists equal.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BOT_ID",
    "CALLER_RUN_ID",
    "CALL_DEPTH",
    "DEFAULT_MODEL",
    "FILES",
    "OWNER_ID",
    "RUN_ID",
    "SYSTEM_VALUE_NAMES",
    "USER_ID",
]

BOT_ID: Final = "bot_id"
RUN_ID: Final = "run_id"
"""The engine generates one when the caller gives none."""
USER_ID: Final = "user_id"
OWNER_ID: Final = "owner_id"
"""Retrieval and bot calls are scoped to it (`RunContext.owner_id`)."""
DEFAULT_MODEL: Final = "default_model"
FILES: Final = "files"
CALL_DEPTH: Final = "call_depth"
CALLER_RUN_ID: Final = "caller_run_id"

SYSTEM_VALUE_NAMES: Final = frozenset(
    {BOT_ID, RUN_ID, USER_ID, OWNER_ID, DEFAULT_MODEL, FILES, CALL_DEPTH, CALLER_RUN_ID}
)
"""Every name a run's ``sys`` may hold."""
