"""`PublishedBotRunner`: the `BotRunner` the agent's workflow tools call - another published bot
of the same owner, run as a nested turn.

The called bot must exist, belong to the caller's owner and have a published V2 version
(anything else is one `NotFoundError`, so a tool can never tell another account's bot from no
bot). Its run goes through the same runtime as a chat - owner-scoped retrieval, the app's
observers - and is recorded under the called bot with mode ``tool`` and the calling run's id in
its inputs; it has no chat session (nothing is added to any transcript). ``sys.call_depth``
carries the depth on, so an agent inside the called bot calls one level deeper still, and the
runner refuses calls past ``SNAPAGENT_AGENT_MAX_BOT_DEPTH`` itself too.

    runner = PublishedBotRunner(database, runtime, recorder, chat.group,
                                observers=[telemetry.for_run])
    runtime.bind_bots(runner)                         # create_app does this
    answer = await runner.run_bot(BotCall("bot-2", "invoice 12?", owner_id="u1", depth=1))
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, select

from snapagent.db.base import new_id
from snapagent.db.group_commit import GroupCommit
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.errors import NotFoundError, PermissionDeniedError
from snapagent.nodes.settings import get_node_settings
from snapagent.services.chat import RunObserverFactory
from snapagent.services.chat_results import answer_text, failure_error
from snapagent.services.run_recorder import RunInfo, RunRecorder
from snapagent.services.run_recording import RecordingObserver
from snapagent.services.runtime import BotRuntime
from snapagent.services.system_values import RunKind, system_inputs
from snapagent.workflow.result import RunStatus
from snapagent.workflow.services import BotAnswer, BotCall

__all__ = ["PublishedBotRunner"]

RUN_MODE = "tool"
"""The ``mode`` of a nested run's record (a chat's is ``blocking`` or ``streaming``)."""


class PublishedBotRunner:
    """See the module docstring. One per app."""

    def __init__(
        self,
        database: Database,
        runtime: BotRuntime,
        recorder: RunRecorder,
        group: GroupCommit,
        *,
        observers: Sequence[RunObserverFactory] = (),
    ) -> None:
        self.database = database
        self.runtime = runtime
        self.recorder = recorder
        self.group = group  # the chat's: nested runs' records share its transactions
        self.observers = tuple(observers)

    async def _published(self, call: BotCall) -> tuple[Bot, BotWorkflowVersion]:
        published = and_(
            BotWorkflowVersion.bot_id == Bot.id, BotWorkflowVersion.status == "published"
        )
        async with self.database.session() as session:
            row = (
                await session.execute(
                    select(Bot, BotWorkflowVersion)
                    .outerjoin(BotWorkflowVersion, published)
                    .where(Bot.id == call.bot_id)
                )
            ).first()
        if row is None or row[0].owner_id != call.owner_id or not call.owner_id:
            raise NotFoundError(f"bot {call.bot_id!r} not found")
        if row[1] is None:
            raise NotFoundError(f"bot {call.bot_id!r} has no published version")
        return row[0], row[1]

    async def run_bot(self, call: BotCall) -> BotAnswer:
        limit = get_node_settings().agent_max_bot_depth
        if call.depth > limit:
            raise PermissionDeniedError(
                f"bots may call bots only {limit} levels deep (SNAPAGENT_AGENT_MAX_BOT_DEPTH)"
            )
        bot, version = await self._published(call)
        compiled = self.runtime.compile(version.id, version.graph)
        info = RunInfo(
            run_id=new_id(),
            bot_id=bot.id,
            inputs={"query": call.query, "caller_run_id": call.caller_run_id},
            titles=compiled.titles,
            version_id=version.id,
            version_number=version.version_number,
            mode=RUN_MODE,
        )
        observers = [
            *(make(info) for make in self.observers),
            RecordingObserver(self.recorder, self.group, info),
        ]
        sys = system_inputs(
            RunKind.TOOL,
            bot_id=bot.id,
            run_id=info.run_id,
            default_model=bot.default_model,
            call_depth=call.depth,
            caller_run_id=call.caller_run_id,
        )
        handle = self.runtime.start(
            compiled,
            {"query": call.query, "session_id": "", "history": []},
            sys,
            owner_id=bot.owner_id,
            observers=observers,
        )
        result = await handle.result()  # recorded however it ends (cancelled by a timeout too)
        if result.status is not RunStatus.SUCCEEDED:
            raise failure_error(result)
        return BotAnswer(answer_text(result), run_id=info.run_id, usage=result.usage)
