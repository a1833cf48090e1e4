"""`IsolatedPool`: our own code on hostile data, in worker processes with hard limits."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from snapagent.errors import SnapAgentError
from snapagent.isolation import codec
from snapagent.isolation.dispatch import Slot, SlotPool
from snapagent.isolation.errors import (
    IsolationError,
    OutputTooLargeError,
    PoolClosedError,
    RemoteError,
    WorkerCrashedError,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.isolation.framing import FrameTooLargeError, read_frame, write_frame
from snapagent.isolation.framing_async import read_frame_async, write_frame_async
from snapagent.isolation.limits import ProcessLimits
from snapagent.isolation.process import WorkerProcess

__all__ = ["IsolatedPool"]

T = TypeVar("T")

STARTUP_TIMEOUT_S = 60.0
"""How long a new worker may take to import and answer the handshake (busy machines are slow;
this is not counted against any call's ``timeout_s``)."""

_DECODE_ON_LOOP_BYTES = 256 * 1024
"""Replies larger than this are decoded on a helper thread, not on the event loop."""


def _reference(fn: Callable[..., Any]) -> tuple[str, str]:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname or module == "__main__":
        raise TypeError(
            f"{fn!r} cannot run in a worker: pass a module-level function of an importable module"
        )
    return module, qualname


def _rebuild_error(module: str, qualname: str, message: str, attrs: dict[str, Any]) -> Exception:
    """The function's own `SnapAgentError` (only classes of modules the parent has imported
    already are looked up: a worker's reply never makes the parent import anything)."""
    loaded = sys.modules.get(module)
    cls: Any = loaded
    for part in qualname.split(".") if loaded is not None else ():
        cls = getattr(cls, part, None)
    if isinstance(cls, type) and issubclass(cls, SnapAgentError):
        exc: Exception = cls.__new__(cls)
        Exception.__init__(exc, message)
        exc.__dict__.update(attrs)
        exc.message = message  # type: ignore[attr-defined]
        exc.details = attrs.get("details", {}) if isinstance(attrs.get("details"), dict) else {}  # type: ignore[attr-defined]
        return exc
    return RemoteError(message, type_name=qualname.rsplit(".", 1)[-1])


class IsolatedPool(SlotPool[WorkerProcess]):
    """A pool of pre-started worker processes for CPU- or memory-hungry work on hostile input.

        pool = IsolatedPool(name="render", size=2,
                            limits=ProcessLimits(memory_mb=512, cpu_s=5, max_output_bytes=1 << 20))
        text = await pool.call(render_template, source, values, timeout_s=2.0)
        await pool.close()

    ``fn`` must be a module-level function importable in the worker (the parent's ``sys.path``
    is handed over); arguments are pickled. Results are decoded by a restricted unpickler:
    plain data passes, and instances of ``result_types`` (dataclasses and the like); anything
    else is refused. A `SnapAgentError` raised by ``fn`` is re-raised as itself; any other
    exception as `RemoteError` with its type name and message. Timeouts, memory exhaustion,
    crashes and oversized results raise the matching `IsolationError`; a worker that timed out,
    crashed or ran out of memory is killed and replaced. At most ``size`` calls run at once; the
    rest wait their turn (the wait is not part of ``timeout_s``). See `snapagent.isolation`.
    """

    def __init__(
        self,
        *,
        name: str,
        size: int,
        limits: ProcessLimits,
        result_types: Iterable[type] = (),
        initializer: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(name=name, size=size)
        self.limits = limits
        self._allowed = codec.allowed_names(result_types)
        self._initializer = _reference(initializer) if initializer is not None else None

    async def call(self, fn: Callable[..., T], /, *args: Any, timeout_s: float, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` in a worker; the loop keeps running meanwhile."""
        request = codec.dumps((*_reference(fn), args, kwargs, self.limits.cpu_s))
        result: T = await self.run(request, timeout_s)
        return result

    def call_blocking(
        self, fn: Callable[..., T], /, *args: Any, timeout_s: float, **kwargs: Any
    ) -> T:
        """`call` for plain threads (an ingestion thread, a CLI)."""
        request = codec.dumps((*_reference(fn), args, kwargs, self.limits.cpu_s))
        result: T = self.run_blocking(request, timeout_s)
        return result

    async def warm_up(self) -> None:
        """Start every worker now instead of on first use (a trivial call per slot)."""
        await asyncio.gather(*(self.call(os.getpid, timeout_s=60.0) for _ in range(self.size)))

    # -- SlotPool hooks -----------------------------------------------------------------------

    def _start_worker(self) -> WorkerProcess:
        worker = WorkerProcess.spawn(WorkerProcess.python_argv("snapagent.isolation.worker"))
        handshake = {
            "sys_path": [os.path.abspath(p) if p == "" else p for p in sys.path],
            "memory_mb": self.limits.memory_mb,
            "max_output_bytes": self.limits.max_output_bytes,
            "initializer": self._initializer,
        }
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            write_frame(worker.to_worker, codec.dumps(handshake), deadline)
            reply = codec.loads(read_frame(worker.from_worker, 1 << 20, deadline))
        except (OSError, EOFError, TimeoutError, FrameTooLargeError, codec.UnsafeReplyError):
            code = worker.kill()
            raise WorkerCrashedError(
                f"a worker of pool {self.name!r} could not start (exit code {code})",
                pool=self.name,
                exit_code=code,
            ) from None
        if not (isinstance(reply, tuple) and reply[:1] == ("ready",)):
            worker.kill()
            raise WorkerCrashedError(f"a worker of pool {self.name!r} answered {reply!r:.80}")
        worker.info = reply[1]
        return worker

    def _kill_worker(self, worker: WorkerProcess) -> None:
        worker.interrupt()

    def _discard_worker(self, worker: WorkerProcess) -> int:
        return worker.kill()

    async def _execute(self, slot: Slot[WorkerProcess], payload: Any, timeout_s: float) -> Any:
        worker = slot.worker
        assert worker is not None
        limit = self.limits.max_output_bytes + 4096
        try:
            async with asyncio.timeout(timeout_s):
                await write_frame_async(worker.to_worker, payload)
                data = await read_frame_async(worker.from_worker, limit)
        except TimeoutError:
            self._lose(slot)
            raise WorkerTimeoutError(
                f"pool {self.name!r}: the call ran past its {timeout_s:g} s deadline",
                pool=self.name,
            ) from None
        except asyncio.CancelledError:
            self._lose(slot)  # the caller gave up: the worker may be deep in hostile input
            raise
        except FrameTooLargeError as exc:
            self._lose(slot)
            raise self._too_large(exc.size) from None
        except (EOFError, OSError):
            worker, slot.worker = slot.worker, None
            code = await asyncio.to_thread(worker.kill) if worker is not None else 0
            raise self._lost_error(code) from None
        try:
            if len(data) > _DECODE_ON_LOOP_BYTES:
                reply = await asyncio.to_thread(codec.loads, data, self._allowed)
            else:
                reply = codec.loads(data, self._allowed)
        except Exception as exc:  # a worker that sends what we did not ask for is not trusted
            self._lose(slot)
            raise WorkerCrashedError(
                f"pool {self.name!r}: the worker sent a reply the pool refuses ({exc})",
                pool=self.name,
            ) from None
        return self._result(slot, reply)

    # -- helpers ------------------------------------------------------------------------------

    def _lose(self, slot: Slot[WorkerProcess]) -> None:
        """Kill the slot's worker now and reap it off the loop; the slot gets a new one."""
        worker = slot.worker
        if worker is not None:
            worker.interrupt()
            self._discard_soon(slot)

    def _too_large(self, size: int) -> OutputTooLargeError:
        return OutputTooLargeError(
            f"pool {self.name!r}: the result ({size} bytes) is over the limit of "
            f"{self.limits.max_output_bytes} bytes",
            pool=self.name,
        )

    def _lost_error(self, code: int) -> IsolationError:
        if self._closed:
            return PoolClosedError(f"pool {self.name!r} was closed during the call", pool=self.name)
        if code == -signal.SIGXCPU:
            return WorkerTimeoutError(
                f"pool {self.name!r}: the call used more than {self.limits.cpu_s:g} s of CPU",
                pool=self.name,
            )
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return WorkerCrashedError(
            f"pool {self.name!r}: the worker died during the call ({how})",
            pool=self.name,
            exit_code=code,
        )

    def _result(self, slot: Slot[WorkerProcess], reply: Any) -> Any:
        kind = reply[0] if isinstance(reply, tuple) and reply else None
        if kind == "ok" and len(reply) == 2:
            return reply[1]
        if kind == "memory":
            self._lose(slot)  # a fresh worker after an exhausted heap
            return self._raise(
                WorkerMemoryError(
                    f"pool {self.name!r}: the call needed more than the "
                    f"{self.limits.memory_mb} MiB memory limit",
                    pool=self.name,
                )
            )
        if kind == "output":
            return self._raise(self._too_large(int(reply[1])))
        if kind == "raised" and len(reply) == 5:
            _, module, qualname, message, attrs = reply
            return self._raise(_rebuild_error(str(module), str(qualname), str(message), attrs))
        self._lose(slot)
        raise WorkerCrashedError(f"pool {self.name!r}: malformed reply {reply!r:.80}")

    @staticmethod
    def _raise(exc: Exception) -> Any:
        raise exc
