"""The run-level values (``sys.*``) a bot's run gets, declared once.

A workflow reads them by selector (``["sys", "bot_id"]``); editors offer them from this list
(``GET /api/v1/node-types`` sends it as ``system_values``). Every place that builds a run's
``sys`` goes through `system_inputs`, which refuses a set of names other than the declared
one, so the list, the runs and the editors cannot drift apart.

Two kinds of run get them: a chat turn (``chat``; a debug run of one node stands for one) and a
bot called by another bot's agent as a tool (``tool``), which has no user and no files but
knows how deep it is and who called it. ``owner_id`` is set by `BotRuntime.start` itself, from
the owner its retrieval is scoped to, so no caller can name another. The names themselves are
constants of `snapagent.workflow.system_names`, which the nodes reading them share.

    sys = system_inputs(RunKind.CHAT, bot_id=b, run_id=r, user_id=u, default_model=m, files=[])
    runtime.start(compiled, inputs, sys, owner_id=owner)    # adds sys.owner_id
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from snapagent.workflow.system_names import (
    BOT_ID,
    CALL_DEPTH,
    CALLER_RUN_ID,
    DEFAULT_MODEL,
    FILES,
    OWNER_ID,
    RUN_ID,
    USER_ID,
)
from snapagent.workflow.types import PortType

__all__ = [
    "OWNER_ID",
    "SYSTEM_VALUES",
    "RunKind",
    "SystemValue",
    "system_inputs",
    "system_value_names",
    "with_owner",
]


class RunKind(StrEnum):
    """Which runs get a value."""

    CHAT = "chat"
    """A chat turn (and a debug run of one node, which stands for one)."""
    TOOL = "tool"
    """A bot called as a tool by another bot's agent (a nested run, without a session)."""


@dataclass(frozen=True, slots=True)
class SystemValue:
    """One ``sys.<name>`` value: its port type, what it is and which runs get it."""

    name: str
    type: PortType
    description: str
    runs: frozenset[RunKind]


_EVERY_RUN = frozenset(RunKind)
_CHAT = frozenset({RunKind.CHAT})
_TOOL = frozenset({RunKind.TOOL})

SYSTEM_VALUES: Final[tuple[SystemValue, ...]] = (
    SystemValue(BOT_ID, PortType.STRING, "The bot whose workflow runs.", _EVERY_RUN),
    SystemValue(RUN_ID, PortType.STRING, "This run's id (its execution record).", _EVERY_RUN),
    SystemValue(USER_ID, PortType.STRING, "The account the chat turn is for.", _CHAT),
    SystemValue(
        OWNER_ID, PortType.STRING, "The bot's owner: retrieval sees only their data.", _EVERY_RUN
    ),
    SystemValue(
        DEFAULT_MODEL,
        PortType.STRING,
        "The bot's default model (null: the provider's); nodes without a model use it.",
        _EVERY_RUN,
    ),
    SystemValue(
        FILES,
        PortType.ARRAY_OBJECT,
        "Files attached to the turn: {name, content_type, data (base64)}.",
        _CHAT,
    ),
    SystemValue(
        CALL_DEPTH,
        PortType.INTEGER,
        "How many bot-as-tool calls deep this run is (1: called by a chat's agent).",
        _TOOL,
    ),
    SystemValue(CALLER_RUN_ID, PortType.STRING, "The run whose agent called this bot.", _TOOL),
)


_NAMES: Final[Mapping[RunKind, frozenset[str]]] = {
    kind: frozenset(v.name for v in SYSTEM_VALUES if kind in v.runs) for kind in RunKind
}
# What a caller of `system_inputs` names (the runtime adds owner_id): derived once, not per turn.
_GIVEN: Final[Mapping[RunKind, frozenset[str]]] = {
    kind: names - {OWNER_ID} for kind, names in _NAMES.items()
}


def system_value_names(kind: RunKind) -> frozenset[str]:
    """The names of the values a run of ``kind`` gets (``owner_id`` included)."""
    return _NAMES[kind]


def system_inputs(kind: RunKind, **values: Any) -> dict[str, Any]:
    """A run's ``sys`` (without ``owner_id``, which the runtime adds); a name missing or not
    declared for ``kind`` is a programming error (ValueError), never a silent drift."""
    expected = _GIVEN[kind]
    if values.keys() != expected:
        missing = sorted(expected - set(values))
        extra = sorted(set(values) - expected)
        raise ValueError(f"sys values of a {kind} run: missing {missing}, not declared {extra}")
    return values


def with_owner(sys: Mapping[str, Any], owner_id: str) -> dict[str, Any]:
    """``sys`` with ``owner_id`` set to the owner the run is scoped to (whatever it said)."""
    return {**sys, OWNER_ID: owner_id}
