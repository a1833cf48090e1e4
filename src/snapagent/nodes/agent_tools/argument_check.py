"""Checking a model's tool arguments against the tool's schema off the event loop, with a
deadline and a memory bound (`snapagent.schema_check` says why it cannot be cheap).

    checker = default_checker()
    problem = await checker.problem(schema_json, arguments_json, tool="get_order",
                                    node_id="agent", timeout_s=2.0)

The check runs in a worker of an `IsolatedPool` (niced, seccomp-confined, the same as the
template workers): ``SNAPAGENT_AGENT_ARGUMENT_CHECK_WORKERS`` processes with
``SNAPAGENT_AGENT_ARGUMENT_CHECK_MEMORY_MB`` each, started on the first check. A check past its
deadline (``SNAPAGENT_AGENT_ARGUMENT_CHECK_TIMEOUT_S``) or memory kills the worker and fails the
agent node with a `NodeExecutionError` naming the tool and the setting: arguments are bounded in
size before they get here, so the schema is what makes checking expensive, and a model retrying
the call would only burn another deadline.
"""

from __future__ import annotations

import atexit
from functools import lru_cache

from snapagent.errors import NodeExecutionError
from snapagent.isolation import (
    IsolatedPool,
    IsolationError,
    ProcessLimits,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.nodes.settings import get_node_settings
from snapagent.schema_check import prepare_schema_worker, schema_problem

__all__ = ["ArgumentChecker", "default_checker"]


class ArgumentChecker:
    """Checks arguments in its worker pool (see the module docstring); `close_blocking()`
    stops it."""

    def __init__(self, *, workers: int, memory_mb: int, cpu_s: float) -> None:
        self.memory_mb = memory_mb
        # Making the pool starts nothing: its workers are spawned by the first check.
        self.pool = IsolatedPool(
            name="tool-arguments",
            size=workers,
            limits=ProcessLimits(memory_mb=memory_mb, cpu_s=cpu_s, max_output_bytes=16_384),
            initializer=prepare_schema_worker,
        )

    async def problem(
        self, schema_json: str, arguments_json: str, *, tool: str, node_id: str, timeout_s: float
    ) -> str | None:
        """Why the arguments do not match the schema, or None; a `NodeExecutionError` when the
        check cannot finish within ``timeout_s`` or the worker's memory."""
        label = f"agent {node_id!r}: checking the arguments of tool {tool!r} against its schema"
        try:
            return await self.pool.call(
                schema_problem, schema_json, arguments_json, timeout_s=timeout_s
            )
        except WorkerTimeoutError:
            reason = (
                f"took longer than {timeout_s:g} s (SNAPAGENT_AGENT_ARGUMENT_CHECK_TIMEOUT_S); "
                "make the tool's parameters schema simpler"
            )
        except WorkerMemoryError:
            reason = (
                f"needed more than {self.memory_mb} MiB "
                "(SNAPAGENT_AGENT_ARGUMENT_CHECK_MEMORY_MB); make the tool's parameters schema "
                "simpler"
            )
        except IsolationError as exc:
            reason = f"failed: {exc.message}"
        raise NodeExecutionError(f"{label} {reason}", node_id=node_id)

    def close_blocking(self) -> None:
        self.pool.close_blocking()


@lru_cache(maxsize=1)
def default_checker() -> ArgumentChecker:
    """The process-wide checker from ``SNAPAGENT_AGENT_ARGUMENT_CHECK_*`` (its workers start
    on the first check and stop at exit)."""
    settings = get_node_settings()
    checker = ArgumentChecker(
        workers=settings.agent_argument_check_workers,
        memory_mb=settings.agent_argument_check_memory_mb,
        cpu_s=settings.agent_argument_check_timeout_s,
    )
    atexit.register(checker.close_blocking)
    return checker
