"""What every log line of a request carries: its request id and the workflow run it serves.

Two context variables, below every layer so any code may tag its task's log lines; the log
formatters (`snapagent.observability.logging`) read them, the request middleware resets them.

    bind_run_id("3f2a...")       # this task's later log lines carry "run_id": "3f2a..."
"""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["bind_run_id", "request_id_var", "run_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("snapagent_request_id", default=None)
run_id_var: ContextVar[str | None] = ContextVar("snapagent_run_id", default=None)


def bind_run_id(run_id: str | None) -> None:
    """Tag the rest of this request's (task's) log lines with ``run_id``."""
    run_id_var.set(run_id)
