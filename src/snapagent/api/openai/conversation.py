"""A chat completion request's ``messages`` as one chat turn, and the session it belongs to.

The rules (``docs/integrations.md`` repeats them for users):

- The **last message is the turn**: it must be a ``user`` message with text.
- Earlier ``user`` and ``assistant`` messages are the **history** the workflow sees, as the
  client sent them (the last ``SNAPAGENT_CHAT_HISTORY_MESSAGES`` of them): an edited or
  regenerated conversation is answered as sent, exactly as an OpenAI model would.
- ``system`` and ``developer`` messages are **instructions**: passed to the workflow as
  ``system`` messages ahead of the history (the bot's own system prompt still applies).
- ``tool`` and ``function`` messages, and assistant tool calls, are refused: bots take no tools.
- Content is a string or a list of ``text`` parts (joined with newlines); other parts (images,
  audio, files) are refused with the path of the part.
- The **session**: an explicit ``session_id`` (body field, or ``metadata.session_id``) is used as
  it is; with one and no earlier user/assistant messages, the session's stored messages are the
  history (server-side memory, as in ``POST /api/v1/chat``). Without one, the session id is
  derived - ``oai-`` + the first 40 hex digits of a SHA-256 over the bot id, the ``user`` field,
  the instructions and the conversation's first user message - so every turn of one
  conversation lands in the same session without the client knowing about sessions.
  Conversations that open identically for the same ``user`` share a session (their history
  still comes from each request); send ``user`` or ``session_id`` to keep them apart.

    conversation = read_conversation(body.messages, history_limit=20)
    session_id = conversation.session_for(bot_id, body.user, explicit=None)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from snapagent.api.openai.schemas import ChatMessageIn
from snapagent.errors import InputValidationError

__all__ = ["Conversation", "explicit_session", "read_conversation"]

INSTRUCTION_ROLES = frozenset({"system", "developer"})
TURN_ROLES = frozenset({"user", "assistant"})
TOOL_ROLES = frozenset({"tool", "function"})
DERIVED_PREFIX = "oai-"

Message = dict[str, str]


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the messages say: the turn, the history before it, the instructions."""

    message: str
    history: tuple[Message, ...]
    """Earlier user/assistant messages, oldest first (at most the history limit)."""
    instructions: tuple[Message, ...]
    """System/developer messages as ``{"role": "system", "content"}``, in order."""
    opening: str
    """The conversation's first user message (the turn itself on a first turn)."""
    has_earlier_turns: bool

    def session_for(self, bot_id: str, user: str | None, explicit: str | None) -> str:
        """The session this turn belongs to (see the module docstring)."""
        if explicit is not None:
            return explicit
        root = [bot_id, user or "", [m["content"] for m in self.instructions], self.opening]
        digest = hashlib.sha256(json.dumps(root, ensure_ascii=False).encode()).hexdigest()
        return DERIVED_PREFIX + digest[:40]

    def history_for(self, explicit: str | None) -> tuple[Message, ...] | None:
        """The history to run with; ``None`` means the session's stored messages."""
        if explicit is not None and not self.has_earlier_turns:
            return None
        return self.history


def explicit_session(session_id: str | None, metadata: dict[str, str] | None) -> str | None:
    """The session the request names, from ``session_id`` or ``metadata.session_id``."""
    from_metadata = (metadata or {}).get("session_id")
    if session_id is not None and from_metadata is not None and session_id != from_metadata:
        raise InputValidationError(
            "session_id and metadata.session_id name different sessions", field="session_id"
        )
    return session_id if session_id is not None else from_metadata


def _text(message: ChatMessageIn, index: int) -> str:
    content = message.content
    if content is None:
        return ""
    pieces = []
    for position, part in enumerate(content):
        if part.type != "text" or part.text is None:
            raise InputValidationError(
                f"content parts of type {part.type!r} are not supported: send text",
                field=f"messages[{index}].content[{position}]",
            )
        pieces.append(part.text)
    return "\n".join(pieces)


def read_conversation(messages: Sequence[ChatMessageIn], history_limit: int) -> Conversation:
    """Split ``messages`` into the turn, its history and instructions; raises
    InputValidationError naming the message (``messages[3]``) that cannot be taken."""
    instructions: list[Message] = []
    turns: list[Message] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message.role
        if role in TOOL_ROLES or message.tool_calls or message.function_call is not None:
            raise InputValidationError(
                "tool calls and tool results are not supported: a bot takes no tools",
                field=where,
            )
        if role not in INSTRUCTION_ROLES | TURN_ROLES:
            raise InputValidationError(
                f"unknown role {role!r}: use system, developer, user or assistant",
                field=f"{where}.role",
            )
        text = _text(message, index)
        if role in INSTRUCTION_ROLES:
            instructions.append({"role": "system", "content": text})
        else:
            turns.append({"role": role, "content": text})
    last = len(messages) - 1
    if messages[last].role != "user":
        raise InputValidationError(
            "the last message must be the user's turn (role 'user')", field=f"messages[{last}]"
        )
    if not turns[-1]["content"].strip():
        raise InputValidationError(
            "the last user message has no text", field=f"messages[{last}].content"
        )
    earlier = turns[:-1]
    opening = next(m["content"] for m in turns if m["role"] == "user")
    return Conversation(
        message=turns[-1]["content"],
        history=tuple(earlier[-history_limit:] if history_limit else ()),
        instructions=tuple(instructions),
        opening=opening,
        has_earlier_turns=bool(earlier),
    )
