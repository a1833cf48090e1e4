"""The worker process of an `IsolatedPool` (started by the pool, never by hand).

Protocol on the inherited pipes (fd 0 requests, fd 1 replies; both are moved aside at once and
0/1 point at /dev/null, so a stray ``print`` cannot corrupt a frame):

1. the parent sends a handshake ``{"sys_path", "memory_mb", "max_output_bytes", ...}``;
   the worker imports the optional initializer, sets RLIMIT_AS and answers ``("ready", info)``;
2. then, per call, ``(module, qualname, args, kwargs, cpu_s)`` ->
   ``("ok", value)`` | ``("memory",)`` | ``("output", size)`` |
   ``("raised", module, qualname, message, attrs)``.
"""

from __future__ import annotations

import importlib
import math
import os
import pickle
import resource
import sys
from collections.abc import Callable
from typing import Any

from snapagent.isolation.codec import dumps, is_plain
from snapagent.isolation.framing import HEADER, read_exact, write_all

__all__ = ["main", "resolve", "serving"]

_serving = False


def serving() -> bool:
    """Whether this process is an `IsolatedPool` worker. Code that would start workers of its
    own does its work in place here: it is already isolated, and a hardened worker cannot start
    processes."""
    return _serving


def _read(fd: int) -> Any:
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size))
    return pickle.loads(read_exact(fd, size))


def _write(fd: int, payload: bytes) -> None:
    write_all(fd, HEADER.pack(len(payload)) + payload)


def resolve(module: str, qualname: str) -> Callable[..., Any]:
    """The module-level callable ``module.qualname`` (imported on first use)."""
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{module}.{qualname} is not callable")
    return target  # type: ignore[no-any-return]


def _arm_cpu(cpu_s: float) -> None:
    """Allow ``cpu_s`` more CPU seconds from now (the soft limit sends SIGXCPU, which kills)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + cpu_s)
    _hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (soft, _hard))


def _describe(exc: BaseException) -> tuple[Any, ...]:
    cls = type(exc)
    attrs = {k: v for k, v in vars(exc).items() if is_plain(v)} if hasattr(exc, "__dict__") else {}
    message = getattr(exc, "message", None)
    if not isinstance(message, str):
        message = str(exc)
    return ("raised", cls.__module__, cls.__qualname__, message[:10_000], attrs)


def _serve_one(request: Any, max_output: int) -> bytes:
    module, qualname, args, kwargs, cpu_s = request
    _arm_cpu(cpu_s)
    try:
        value = resolve(module, qualname)(*args, **kwargs)
        payload = dumps(("ok", value))
    except MemoryError:
        return dumps(("memory",))
    except BaseException as exc:  # the caller decides what the function's failure means
        try:
            return dumps(_describe(exc))
        except Exception:
            return dumps(("raised", "builtins", type(exc).__name__, "", {}))
    if len(payload) > max_output:
        return dumps(("output", len(payload)))
    return payload


def main() -> None:
    global _serving
    _serving = True
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    config = _read(requests)
    # The parent's extra entries go after the worker's own (stdlib first): a directory the
    # parent put on its path (a bench or test folder holding e.g. ``http.py``) must never
    # shadow a standard module inside the worker.
    sys.path.extend(p for p in config["sys_path"] if p not in sys.path)
    info: Any = None
    if config.get("initializer"):
        info = resolve(*config["initializer"])()
    memory = config["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    _write(replies, dumps(("ready", info)))
    max_output = config["max_output_bytes"]
    while True:
        try:
            request = _read(requests)
        except EOFError:
            return
        _write(replies, _serve_one(request, max_output))


if __name__ == "__main__":
    main()
