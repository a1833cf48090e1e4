"""The code sandbox: user code never runs in the server process. See docs/sandbox.md.

    from snapagent.sandbox import CodeSandbox
    sandbox = CodeSandbox()
    await sandbox.execute("python3", "def main(x):\\n    return {'y': x + 1}", {"x": 1},
                          timeout_s=5)                      # {"y": 2}

The names below load on first use: the zygote imports this package's kernel-side modules
(`zygote`, `runner`, `confinement`, `namespaces`, `landlock`, `seccomp`) and must stay small,
because every runner is a fork of it and a fork costs time in proportion to its memory.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snapagent.sandbox.errors import CodeError, SandboxUnavailableError
    from snapagent.sandbox.service import CodeSandbox, Language, SandboxStatus, default_sandbox
    from snapagent.sandbox.settings import CodeSandboxSettings

__all__ = [
    "CodeError",
    "CodeSandbox",
    "CodeSandboxSettings",
    "Language",
    "SandboxStatus",
    "SandboxUnavailableError",
    "default_sandbox",
]

_HOMES = {
    "CodeError": "snapagent.sandbox.errors",
    "SandboxUnavailableError": "snapagent.sandbox.errors",
    "CodeSandbox": "snapagent.sandbox.service",
    "Language": "snapagent.sandbox.service",
    "SandboxStatus": "snapagent.sandbox.service",
    "default_sandbox": "snapagent.sandbox.service",
    "CodeSandboxSettings": "snapagent.sandbox.settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
