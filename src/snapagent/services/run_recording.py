"""`RecordingObserver`: stores a run's record when the run ends, observing its handle.

Attached to every chat run (`ChatService` builds one per turn), it is what makes "every run is
recorded" hold by construction: the engine's run handle awaits it once however the run ends -
succeeded, failed, cancelled politely, or its task cancelled from outside - and shields it from
that cancellation, so a client that hangs up or a server that shuts down still leaves a record.

A run may carry a companion write (`RecordCompanion`): the chat's answer. When the run
succeeded, the record and the companion's rows go in one transaction - shared with other
turns' through the app's `GroupCommit`, which returns once it committed; should that fail,
each is written apart, so the answer never depends on the record (which only logs its own
failure). A companion failure is kept on the observer for the caller to raise: the turn's
answer must not be reported as stored when it was not.

    observer = RecordingObserver(recorder, group, info, companion=answer_store)
    result = await runtime.start(compiled, inputs, sys, owner_id=o, observers=[observer]).result()
"""

from __future__ import annotations

import logging
from typing import Protocol

from snapagent.db.group_commit import GroupCommit, Writes
from snapagent.services.run_recorder import RunInfo, RunRecord, RunRecorder, record_from_end
from snapagent.workflow.events import WorkflowEvent
from snapagent.workflow.handle import RunEnd
from snapagent.workflow.result import RunStatus, WorkflowRunResult

__all__ = ["RecordCompanion", "RecordingObserver"]

log = logging.getLogger(__name__)


class RecordCompanion(Protocol):
    """Rows that belong with a succeeded run's record (a chat turn's answer)."""

    def writes(self, result: WorkflowRunResult) -> Writes:
        """The rows, to go in the record's transaction."""

    async def write(self, result: WorkflowRunResult) -> None:
        """Write them on their own (after the shared transaction failed)."""


class RecordingObserver:
    """See the module docstring. One per run."""

    def __init__(
        self,
        recorder: RunRecorder,
        group: GroupCommit,
        info: RunInfo,
        *,
        companion: RecordCompanion | None = None,
    ) -> None:
        self.recorder = recorder
        self.group = group
        self.info = info
        self.companion = companion
        self.record: RunRecord | None = None
        self.companion_error: Exception | None = None

    def on_event(self, event: WorkflowEvent) -> None:
        return None

    async def on_end(self, end: RunEnd) -> None:
        record = self.record = record_from_end(end, self.info)
        result = end.result
        if self.companion is None or result is None or result.status is not RunStatus.SUCCEEDED:
            await self.recorder.record(record)
            return
        try:
            # The fast path: the run record and the companion's rows in one transaction.
            await self.group.write(
                self.recorder.writes(record).merge(self.companion.writes(result))
            )
        except Exception:
            log.warning("storing run %s with its answer failed; retrying apart", record.run_id)
            await self.recorder.record(record)
            try:
                await self.companion.write(result)
            except Exception as exc:
                self.companion_error = exc
