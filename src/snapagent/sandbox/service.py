"""`CodeSandbox`: the server's side of the code sandbox (zygotes, calls, errors)."""

from __future__ import annotations

import array
import asyncio
import atexit
import contextlib
import fcntl
import functools
import json
import logging
import math
import os
import signal
import termios
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from snapagent.isolation.dispatch import Slot, SlotPool
from snapagent.isolation.errors import (
    IsolationError,
    OutputTooLargeError,
    PoolClosedError,
    WorkerCrashedError,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.isolation.framing import HEADER, read_frame, write_frame
from snapagent.isolation.framing_async import wait_readable, write_frame_async
from snapagent.isolation.process import WorkerProcess
from snapagent.sandbox.errors import CodeError, SandboxUnavailableError
from snapagent.sandbox.settings import CodeSandboxSettings, get_code_sandbox_settings

__all__ = [
    "PRELOADED_MODULES",
    "CodeSandbox",
    "Language",
    "SandboxStatus",
    "default_sandbox",
]

Language = Literal["python3", "javascript"]

PRELOADED_MODULES: tuple[str, ...] = (
    "array", "base64", "binascii", "bisect", "calendar", "cmath", "collections",
    "collections.abc", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "enum",
    "fractions", "functools", "hashlib", "heapq", "hmac", "html", "io", "ipaddress", "itertools",
    "json", "math", "operator", "pprint", "random", "re", "secrets", "statistics", "string",
    "struct", "textwrap", "time", "typing", "unicodedata", "urllib.parse", "uuid", "zlib",
    "zoneinfo", "quickjs",
)  # fmt: skip
"""Imported by each zygote before it confines itself: user code imports these at no cost.
Other pure-Python standard-library modules import from the read-only view; nothing else."""

log = logging.getLogger("snapagent.sandbox")

STARTUP_TIMEOUT_S = 60.0
_KILL_GRACE_S = 3.0
_ENV = {"LANG": "C.UTF-8"}


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """What the sandbox reached on this host: ``level`` is ``namespaces``, ``landlock`` or
    ``unavailable`` (``reason`` says why); ``javascript`` whether QuickJS is there."""

    level: str
    notes: tuple[str, ...] = ()
    reason: str = ""
    javascript: bool = False


@dataclass
class _Zygote:
    process: WorkerProcess
    control_in: int
    control_out: int
    report: dict[str, Any] = field(default_factory=dict)
    runner: int = 1
    control_buffer: bytearray = field(default_factory=bytearray)


class _Overflow(Exception):
    pass


class CodeSandbox(SlotPool[_Zygote]):
    """Runs user code (``main(**inputs) -> dict``) in a confined, single-use process.

        sandbox = CodeSandbox(CodeSandboxSettings())
        result = await sandbox.execute("python3", "def main(a):\\n    return {'b': a * 2}",
                                       {"a": 21}, timeout_s=5)      # {"b": 42}
        (await sandbox.status()).level                              # "namespaces"
        await sandbox.close()

    Each of ``settings.concurrency`` slots holds a zygote (`snapagent.sandbox.zygote`); a call
    sends its request to the zygote's waiting runner and collects the reply while the zygote
    reports the runner's exit. Timeouts and oversized output kill only the runner; anything
    unexpected kills the zygote, which is replaced. ``interpreter`` and ``run_as`` are for
    tests (another Python; spawn the zygote as a non-root user).
    """

    def __init__(
        self,
        settings: CodeSandboxSettings | None = None,
        *,
        interpreter: str | None = None,
        run_as: tuple[int, int] | None = None,
    ) -> None:
        self.settings = settings or CodeSandboxSettings()
        super().__init__(name="code", size=self.settings.concurrency)
        self._interpreter = interpreter
        self._run_as = run_as
        self._status: SandboxStatus | None = None
        if self.settings.sandbox == "off":
            self._status = SandboxStatus(
                "unavailable", reason="the code sandbox is switched off (SNAPAGENT_CODE_SANDBOX)"
            )

    # -- public -------------------------------------------------------------------------------

    async def execute(
        self,
        language: str,
        code: str,
        inputs: Mapping[str, Any],
        *,
        timeout_s: float,
        memory_mb: int | None = None,
    ) -> Any:
        """Run ``code``'s ``main`` with ``inputs``; its return value (JSON data).

        Raises `CodeError` (the code failed), `WorkerTimeoutError`, `WorkerMemoryError`,
        `OutputTooLargeError`, `WorkerCrashedError`, `SandboxUnavailableError`, or
        `OutputTooLargeError` for inputs over ``max_input_bytes``.
        """
        if language not in ("python3", "javascript"):
            raise ValueError(f"unknown language {language!r}")
        self._refuse_if_unavailable()
        limits = {
            "memory_mb": memory_mb or self.settings.memory_mb,
            "cpu_s": math.ceil(timeout_s) + 1,
            "max_output_bytes": self.settings.max_output_bytes,
        }
        request = {"language": language, "code": code, "inputs": dict(inputs), "limits": limits}
        payload = json.dumps(request, default=str).encode()
        if len(payload) > self.settings.max_input_bytes + len(code.encode()) + 4096:
            raise OutputTooLargeError(
                f"the code's inputs are over the limit of {self.settings.max_input_bytes} bytes",
                pool=self.name,
            )
        return await self.run(payload, timeout_s)

    async def status(self) -> SandboxStatus:
        """The isolation level reached (starts a zygote if none ran yet)."""
        if self._status is None:
            try:
                slot = await self._acquire()
            except Exception as exc:  # could not start a zygote now: say why, retry next time
                if self._status is None:
                    return SandboxStatus("unavailable", reason=f"{type(exc).__name__}: {exc}")
            else:
                self._release(slot)
        assert self._status is not None
        return self._status

    def _refuse_if_unavailable(self) -> None:
        if self._status is not None and self._status.level == "unavailable":
            raise SandboxUnavailableError(
                f"user code is refused: {self._status.reason}", pool=self.name
            )

    # -- zygotes ------------------------------------------------------------------------------

    def _start_worker(self) -> _Zygote:
        self._refuse_if_unavailable()
        control_in_r, control_in_w = os.pipe()
        control_out_r, control_out_w = os.pipe()
        try:
            argv = WorkerProcess.python_argv(
                "snapagent.sandbox.zygote",
                str(control_in_r),
                str(control_out_w),
                interpreter=self._interpreter,
            )
            user, group = self._run_as or (None, None)
            process = WorkerProcess.spawn(
                argv, env=_ENV, pass_fds=(control_in_r, control_out_w), user=user, group=group
            )
        except BaseException:
            for fd in (control_in_r, control_in_w, control_out_r, control_out_w):
                os.close(fd)
            raise
        os.close(control_in_r)
        os.close(control_out_w)
        zygote = _Zygote(process, control_in_w, control_out_r)
        config = {
            "mode": self.settings.sandbox,
            "uid": self.settings.uid,
            "gid": self.settings.gid,
            "nice": self.settings.nice,
            "preload": list(PRELOADED_MODULES),
        }
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            write_frame(control_in_w, json.dumps(config).encode(), deadline)
            os.set_blocking(control_out_r, False)
            reply = json.loads(read_frame(control_out_r, 1 << 20, deadline))
        except (OSError, EOFError, TimeoutError, ValueError) as exc:
            self._close_zygote(zygote)
            raise WorkerCrashedError(
                f"the code sandbox could not start ({type(exc).__name__})", pool=self.name
            ) from None
        os.set_blocking(control_in_w, False)
        if reply[0] == "unavailable":
            self._close_zygote(zygote)
            self._status = SandboxStatus("unavailable", reason=str(reply[1]))
            log.error("code sandbox unavailable, code nodes will fail: %s", reply[1])
            self._refuse_if_unavailable()
        report = reply[1]
        zygote.report = report
        first = self._status is None
        self._status = SandboxStatus(
            level=str(report["level"]),
            notes=tuple(report.get("notes", ())),
            javascript="quickjs" in report.get("preloaded", ()),
        )
        if first:
            log.info("code sandbox level: %s %s", self._status.level, list(self._status.notes))
        return zygote

    def _kill_worker(self, worker: _Zygote) -> None:
        worker.process.interrupt()

    def _discard_worker(self, worker: _Zygote) -> int:
        return self._close_zygote(worker)

    @staticmethod
    def _close_zygote(zygote: _Zygote) -> int:
        code = zygote.process.kill()
        for fd in (zygote.control_in, zygote.control_out):
            with contextlib.suppress(OSError):
                os.close(fd)
        return code

    def _lose(self, slot: Slot[_Zygote]) -> None:
        if slot.worker is not None:
            slot.worker.process.interrupt()
            self._discard_soon(slot)

    # -- one call -----------------------------------------------------------------------------

    async def _execute(self, slot: Slot[_Zygote], payload: Any, timeout_s: float) -> Any:
        zygote = slot.worker
        assert zygote is not None
        output = bytearray()
        cap = self.settings.max_output_bytes + HEADER.size + 1024
        try:
            async with asyncio.timeout(timeout_s):
                await write_frame_async(zygote.process.to_worker, payload)
                code = await self._wait_for_runner(zygote, output, cap)
        except TimeoutError:
            await self._stop_runner(slot, output, cap)
            raise WorkerTimeoutError(
                f"the code ran past its {timeout_s:g} s time limit and was stopped",
                pool=self.name,
            ) from None
        except _Overflow:
            await self._stop_runner(slot, output, cap)
            raise self._too_large() from None
        except asyncio.CancelledError:
            self._lose(slot)
            raise
        except (EOFError, OSError, ValueError):
            self._lose(slot)
            if self._closed:
                raise PoolClosedError("the code sandbox was closed", pool=self.name) from None
            raise WorkerCrashedError(
                "the code sandbox stopped unexpectedly", pool=self.name
            ) from None
        zygote.runner += 1
        return self._interpret(slot, code, bytes(output))

    async def _wait_for_runner(self, zygote: _Zygote, output: bytearray, cap: int) -> int:
        pump = asyncio.ensure_future(_pump(zygote.process.from_worker, output, cap))
        notice = asyncio.ensure_future(self._exit_notice(zygote))
        try:
            done, _ = await asyncio.wait({pump, notice}, return_when=asyncio.FIRST_COMPLETED)
            if notice not in done:
                pump.result()  # raises _Overflow or EOFError
            code = notice.result()
            _drain(zygote.process.from_worker, output, cap)
            return code
        finally:
            for task in (pump, notice):
                if not task.done():
                    task.cancel()
            await asyncio.gather(pump, notice, return_exceptions=True)

    async def _exit_notice(self, zygote: _Zygote) -> int:
        """The exit code of the current runner (older runners' notices are skipped)."""
        while True:
            message = await _control_frame(zygote)
            if message[0] == "exit" and message[1] == zygote.runner:
                return int(message[2])

    async def _stop_runner(self, slot: Slot[_Zygote], output: bytearray, cap: int) -> None:
        """Kill the current runner through the zygote; if it read no request, or the zygote
        does not answer in time, replace the whole zygote instead."""
        zygote = slot.worker
        if zygote is None:
            return
        if _unread_bytes(zygote.process.to_worker) != 0:
            self._lose(slot)  # the runner never took (all of) the request: start afresh
            return
        command = json.dumps({"cmd": "kill", "runner": zygote.runner}).encode()
        try:
            async with asyncio.timeout(_KILL_GRACE_S):
                await write_frame_async(zygote.control_in, command)
                await self._exit_notice(zygote)
        except (TimeoutError, EOFError, OSError, ValueError):
            self._lose(slot)
            return
        _drain(zygote.process.from_worker, bytearray(), 1 << 62)
        zygote.runner += 1

    def _too_large(self) -> OutputTooLargeError:
        return OutputTooLargeError(
            f"the code's result is over the limit of {self.settings.max_output_bytes} bytes",
            pool=self.name,
        )

    def _interpret(self, slot: Slot[_Zygote], code: int, output: bytes) -> Any:
        reply = _complete_frame(output)
        if reply is None:
            # No reply: if the runner did not take the whole request, a stale request could
            # reach the next runner, so the zygote goes.
            unread = _unread_bytes(slot.worker.process.to_worker) if slot.worker else -1
            if unread != 0:
                self._lose(slot)
                raise WorkerCrashedError(
                    f"the code runner died before it read its request ({code}, {unread})",
                    pool=self.name,
                )
            raise self._exit_error(code)
        try:
            message = json.loads(reply)
        except (ValueError, RecursionError):
            raise CodeError(
                "the code wrote something other than its result to the reply channel",
                type_name="ProtocolError",
                pool=self.name,
            ) from None
        if not isinstance(message, dict):
            raise CodeError("malformed reply", type_name="ProtocolError", pool=self.name)
        if message.get("ok") is True:
            return message.get("result")
        return self._raise_code_error(message.get("error"))

    def _exit_error(self, code: int) -> IsolationError:
        if code in (-signal.SIGXCPU, -signal.SIGKILL):
            return WorkerTimeoutError("the code used up its CPU time and was stopped")
        if code == 0:
            return CodeError("the code exited without returning a result", type_name="SystemExit")
        if code in (71, 72):
            return WorkerCrashedError(f"the code sandbox could not confine the runner ({code})")
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return WorkerCrashedError(f"the code crashed ({how})", exit_code=code, pool=self.name)

    def _raise_code_error(self, error: Any) -> Any:
        if not isinstance(error, dict):
            raise CodeError("malformed error reply", type_name="ProtocolError", pool=self.name)
        kind = str(error.get("type", "Error"))[:100]
        message = str(error.get("message", ""))[:2000]
        if kind == "MemoryError":
            raise WorkerMemoryError(
                f"the code needed more than its {self.settings.memory_mb} MiB of memory",
                pool=self.name,
            )
        if kind == "OutputTooLarge":
            raise self._too_large()
        line = error.get("line") if isinstance(error.get("line"), int) else None
        key = error.get("key") if isinstance(error.get("key"), str) else None
        where = f" (line {line})" if line else ""
        text = f"{kind}: {message}{where}" if message else f"{kind}{where}"
        raise CodeError(text, type_name=kind, line=line, key=key, pool=self.name)


async def _pump(fd: int, output: bytearray, cap: int) -> None:
    """Read a runner's reply pipe as it writes (it would block on a full pipe otherwise)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            await wait_readable(fd)
            continue
        if not chunk:
            raise EOFError
        output += chunk
        if len(output) > cap:
            raise _Overflow


def _drain(fd: int, output: bytearray, cap: int, strict: bool = True) -> None:
    """Take what is left in the reply pipe without waiting (the runner is gone)."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if not chunk:
            return
        if len(output) + len(chunk) > cap:
            if strict:
                raise _Overflow
            continue
        output += chunk


async def _control_frame(zygote: _Zygote) -> Any:
    """The next control message; bytes already read survive a cancelled wait."""
    buffer = zygote.control_buffer
    while True:
        if len(buffer) >= HEADER.size:
            (size,) = HEADER.unpack(buffer[: HEADER.size])
            if size > 1 << 20:
                raise ValueError("control frame too large")
            if len(buffer) >= HEADER.size + size:
                data = bytes(buffer[HEADER.size : HEADER.size + size])
                del buffer[: HEADER.size + size]
                return json.loads(data)
        try:
            chunk = os.read(zygote.control_out, 65536)
        except BlockingIOError:
            await wait_readable(zygote.control_out)
            continue
        if not chunk:
            raise EOFError
        buffer += chunk


def _unread_bytes(fd: int) -> int:
    """Bytes still waiting in the pipe behind ``fd`` (-1 if unknown): 0 means the runner read
    the whole request, so no stale request can reach the next runner."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count, True)
    except OSError:
        return -1
    return count[0]


def _complete_frame(data: bytes) -> bytes | None:
    if len(data) < HEADER.size:
        return None
    (size,) = HEADER.unpack(data[: HEADER.size])
    body = data[HEADER.size : HEADER.size + size]
    return body if len(body) == size else None


@functools.lru_cache(maxsize=1)
def default_sandbox() -> CodeSandbox:
    """The process-wide sandbox built from ``SNAPAGENT_CODE_*`` (zygotes start on first use)."""
    sandbox = CodeSandbox(get_code_sandbox_settings())
    atexit.register(sandbox.close_blocking)
    return sandbox
