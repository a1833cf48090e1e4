"""The runner: one forked child of the zygote that runs one piece of user code, then exits.

It is our code until the last step. In order: close every descriptor but the request pipe
(fd 0), the reply pipe (fd 1) and /dev/null as stderr; read the request and close fd 0; set
the rlimits (address space, CPU, no file writes, few descriptors, no processes, no core
dumps); clear the environment; apply
Landlock where available; install the seccomp filter; and only then compile and run the user's
code. The reply is one JSON frame: ``{"ok": true, "result": {...}}`` or ``{"ok": false,
"error": {"type", "message", "line"}}``. Nothing the code does can reach the zygote's control
pipes (closed before it starts) or outlive this call (the zygote kills and reaps it).
"""

from __future__ import annotations

import builtins
import io
import json
import math
import os
import resource
import sys
import traceback
from typing import Any

from snapagent.isolation.framing import HEADER, read_exact, write_all
from snapagent.sandbox import landlock, seccomp

__all__ = ["run_child"]

CODE_FILENAME = "<code>"

_REQUEST_FD = 0
_REPLY_FD = 1


def _limit(kind: int, value: int) -> None:
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        _soft, hard = resource.getrlimit(kind)
        resource.setrlimit(kind, (min(value, hard), hard))


def _confine(limits: dict[str, Any], baseline_bytes: int, read_only_paths: list[str]) -> None:
    memory = baseline_bytes + int(limits["memory_mb"]) * 1024 * 1024
    cpu = math.ceil(float(limits["cpu_s"]))
    _limit(resource.RLIMIT_AS, memory)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    _limit(resource.RLIMIT_FSIZE, 0)
    _limit(resource.RLIMIT_NOFILE, 16)
    _limit(resource.RLIMIT_NPROC, 0)
    _limit(resource.RLIMIT_CORE, 0)
    _limit(resource.RLIMIT_MEMLOCK, 0)
    _limit(resource.RLIMIT_MSGQUEUE, 0)
    os.environ.clear()
    if landlock.abi_version() >= 1:
        landlock.restrict_to(read_only_paths)
    seccomp.install(seccomp.runner_filter())


class _Discard(io.TextIOBase):
    """Where ``print`` goes: nowhere (the reply pipe is for the reply only)."""

    def write(self, text: str) -> int:
        return len(text)


def _error(exc: BaseException) -> dict[str, Any]:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == CODE_FILENAME:
            line = frame.lineno
    if isinstance(exc, SyntaxError) and exc.filename == CODE_FILENAME:
        line = exc.lineno
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return {"type": type(exc).__name__, "message": message[:2000], "line": line}


def _run_python(code: str, inputs: dict[str, Any]) -> Any:
    namespace: dict[str, Any] = {"__name__": "__sandbox__", "__builtins__": builtins}
    exec(compile(code, CODE_FILENAME, "exec"), namespace)
    main = namespace.get("main")
    if not callable(main):
        raise NameError("the code must define a function main(...)")
    return main(**inputs)


def _run_javascript(code: str, inputs: dict[str, Any], limits: dict[str, Any]) -> Any:
    import quickjs  # loaded by the zygote before confinement

    context = quickjs.Context()
    context.set_memory_limit(int(limits["memory_mb"]) * 1024 * 1024)
    context.set_time_limit(math.ceil(float(limits["cpu_s"])))
    try:
        context.eval(code)
        if context.eval("typeof main") != "function":
            raise NameError("the code must define a function main({...})")
        context.set("__snapagent_inputs", json.dumps(inputs))
        text = context.eval("JSON.stringify(main(JSON.parse(__snapagent_inputs)))")
    except quickjs.JSException as exc:
        first = str(exc).splitlines()[0] if str(exc) else "JavaScript error"
        name, _, message = first.partition(": ")
        raise _JavaScriptError(name or "Error", message or first) from None
    return json.loads(text) if isinstance(text, str) else None


class _JavaScriptError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.js_name = name


def _reply(payload: dict[str, Any], max_output: int) -> bytes:
    try:
        data = json.dumps(payload).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        data = json.dumps({"ok": False, "error": _unserialisable(payload, exc)}).encode()
    if len(data) > max_output:
        too_large = {"type": "OutputTooLarge", "message": "", "size": len(data)}
        data = json.dumps({"ok": False, "error": too_large}).encode()
    return data


def _unserialisable(payload: dict[str, Any], exc: Exception) -> dict[str, Any]:
    result = payload.get("result")
    if isinstance(result, dict):
        for key, value in result.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                kind = type(value).__name__
                return {
                    "type": "OutputTypeError",
                    "message": f"output {str(key)[:100]!r} is a {kind}, which is not JSON data",
                    "key": str(key)[:100],
                }
    return {"type": "OutputTypeError", "message": f"the result is not JSON data ({exc})"}


def run_child(baseline_bytes: int, read_only_paths: list[str]) -> None:
    """The whole life of a runner (called in the freshly forked child; never returns)."""
    try:
        (size,) = HEADER.unpack(read_exact(_REQUEST_FD, HEADER.size))
        request = json.loads(read_exact(_REQUEST_FD, size))
        os.close(_REQUEST_FD)
        limits = request["limits"]
        _confine(limits, baseline_bytes, read_only_paths)
    except BaseException:  # nothing of the user's has run yet: a setup failure is ours
        os._exit(71)
    sys.stdout = sys.stderr = _Discard()
    try:
        if request["language"] == "javascript":
            result = _run_javascript(request["code"], request["inputs"], limits)
        else:
            result = _run_python(request["code"], request["inputs"])
        payload: dict[str, Any] = {"ok": True, "result": result}
    except _JavaScriptError as exc:
        payload = {"ok": False, "error": {"type": exc.js_name, "message": str(exc)[:2000]}}
    except MemoryError:
        payload = {"ok": False, "error": {"type": "MemoryError", "message": "out of memory"}}
    except BaseException as exc:  # the user's exception, reported to the user
        payload = {"ok": False, "error": _error(exc)}
    try:
        data = _reply(payload, int(limits["max_output_bytes"]))
        write_all(_REPLY_FD, HEADER.pack(len(data)) + data)
    except MemoryError:
        os._exit(72)
    os._exit(0)
