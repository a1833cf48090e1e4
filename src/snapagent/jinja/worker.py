"""Setting up a process that renders templates (the `IsolatedPool` initializer).

    IsolatedPool(name="templates", ..., initializer=prepare_template_worker)

A hostile template can keep its worker at 100% CPU until the deadline kills it; at a lower
scheduling priority that CPU goes to the server first, so ``/health`` and every other request
keep their latency while the attack burns only what is left over. Then seccomp: a Jinja
sandbox escape in the worker still could not open a socket or start a program.
"""

from __future__ import annotations

import os

__all__ = ["WORKER_NICE", "prepare_template_worker"]

WORKER_NICE = 10
"""Niceness added to template workers (the code sandbox's runners use the same)."""


def prepare_template_worker() -> dict[str, str]:
    os.nice(WORKER_NICE)
    from snapagent.sandbox.seccomp import harden_worker  # seccomp needs nothing else loaded

    return {"nice": str(WORKER_NICE), **harden_worker()}
