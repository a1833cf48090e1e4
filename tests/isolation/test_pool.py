"""`IsolatedPool` against real worker processes: limits hold, failures are reported with the
right error, a bad call costs a worker (replaced at once) and never the event loop."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from isolation import workload
from snapagent.errors import NodeExecutionError, SnapAgentError
from snapagent.isolation import (
    IsolatedPool,
    OutputTooLargeError,
    PoolClosedError,
    ProcessLimits,
    RemoteError,
    WorkerCrashedError,
    WorkerMemoryError,
    WorkerTimeoutError,
)

LIMITS = ProcessLimits(memory_mb=256, cpu_s=2, max_output_bytes=64 * 1024)


@pytest.fixture(scope="module")
def pool() -> Iterator[IsolatedPool]:
    """One pool for the whole module: it works from every test's own event loop."""
    pool = IsolatedPool(name="test", size=2, limits=LIMITS, result_types=[workload.Parsed])
    yield pool
    pool.close_blocking()


async def test_a_call_returns_the_function_result(pool: IsolatedPool) -> None:
    assert await pool.call(workload.echo, {"a": [1, 2.5, "x", None]}, timeout_s=30) == {
        "a": [1, 2.5, "x", None]
    }
    assert await pool.call(workload.pid, timeout_s=30) != os.getpid()


async def test_a_plain_thread_calls_with_call_blocking(pool: IsolatedPool) -> None:
    result = await asyncio.to_thread(pool.call_blocking, workload.echo, "hi", timeout_s=30)
    assert result == "hi"
    with pytest.raises(RuntimeError, match="block the event loop"):
        pool.call_blocking(workload.echo, "hi", timeout_s=30)


async def test_workers_are_reused(pool: IsolatedPool) -> None:
    pids = {await pool.call(workload.pid, timeout_s=30) for _ in range(10)}
    assert len(pids) == 1  # sequential calls keep the most recently used worker


async def test_a_timeout_kills_the_worker_and_a_new_one_takes_over(pool: IsolatedPool) -> None:
    before = await pool.call(workload.pid, timeout_s=30)
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError, match="deadline"):
        await pool.call(workload.sleep_interval, 30, timeout_s=0.3)
    assert time.monotonic() - started < 5
    assert await _gone(before)
    assert await pool.call(workload.pid, timeout_s=30) != before


async def test_cpu_time_is_bounded_even_with_a_long_deadline(pool: IsolatedPool) -> None:
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError, match="CPU"):
        await pool.call(workload.burn_cpu, 60, timeout_s=120)
    assert time.monotonic() - started < 60


async def test_the_memory_limit_holds(pool: IsolatedPool) -> None:
    with pytest.raises(WorkerMemoryError, match="256 MiB"):
        await pool.call(workload.allocate, 1024, timeout_s=30)
    assert await pool.call(workload.allocate, 16, timeout_s=30) == 16 * 1024 * 1024


async def test_a_crash_is_reported_with_the_signal(pool: IsolatedPool) -> None:
    with pytest.raises(WorkerCrashedError, match="SIGSEGV") as info:
        await pool.call(workload.segfault, timeout_s=30)
    assert info.value.exit_code == -signal.SIGSEGV
    with pytest.raises(WorkerCrashedError, match="exit code 7"):
        await pool.call(workload.exit_now, 7, timeout_s=30)
    assert await pool.call(workload.echo, 1, timeout_s=30) == 1


async def test_the_functions_exception_comes_back_with_its_type_and_message(
    pool: IsolatedPool,
) -> None:
    with pytest.raises(RemoteError) as info:
        await pool.call(workload.raise_value_error, "bad header", timeout_s=30)
    assert info.value.type_name == "ValueError"
    assert info.value.remote_message == "bad header"
    assert isinstance(info.value, SnapAgentError)
    with pytest.raises(NodeExecutionError, match="failed in a worker") as node_info:
        await pool.call(workload.raise_node_error, "tpl", timeout_s=30)
    assert node_info.value.node_id == "tpl"


async def test_results_over_the_cap_are_refused(pool: IsolatedPool) -> None:
    with pytest.raises(OutputTooLargeError, match="over the limit"):
        await pool.call(workload.big_bytes, 200 * 1024, timeout_s=30)
    assert await pool.call(workload.big_bytes, 10, timeout_s=30) == b"x" * 10


async def test_only_allowed_result_classes_are_decoded(pool: IsolatedPool) -> None:
    assert await pool.call(workload.parsed, "t", timeout_s=30) == workload.Parsed("t", 3)
    with pytest.raises(WorkerCrashedError, match=r"refuses .*NotAllowed"):
        await pool.call(workload.not_allowed, timeout_s=30)


async def test_workers_see_no_secrets_from_the_environment(
    pool: IsolatedPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPAGENT_JWT_SECRET", "s3cret")
    fresh = IsolatedPool(name="env", size=1, limits=LIMITS)
    try:
        env = await fresh.call(workload.environ, timeout_s=30)
    finally:
        await fresh.close()
    assert "SNAPAGENT_JWT_SECRET" not in env
    assert not any("s3cret" in value for value in env.values())


async def test_concurrency_is_bounded_by_size(pool: IsolatedPool) -> None:
    intervals = await asyncio.gather(
        *(pool.call(workload.sleep_interval, 0.4, timeout_s=30) for _ in range(5))
    )
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    assert peak == 2


async def test_a_long_call_does_not_stall_the_event_loop(pool: IsolatedPool) -> None:
    gaps: list[float] = []

    async def health() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(health())
    await pool.call(workload.burn_cpu, 1.2, timeout_s=30)
    ticker.cancel()
    assert len(gaps) > 10
    assert max(gaps) < 0.5  # a blocked loop would show one gap of the whole 1.2 s


async def test_a_cancelled_caller_kills_its_worker(pool: IsolatedPool) -> None:
    task = asyncio.create_task(pool.call(workload.sleep_interval, 30, timeout_s=60))
    await asyncio.sleep(0.5)
    busy_pids = set()
    for slot in list(pool._busy):
        if slot.worker is not None:
            busy_pids.add(slot.worker.pid)
    assert len(busy_pids) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _gone(busy_pids.pop())
    assert await pool.call(workload.echo, "still fine", timeout_s=30) == "still fine"


async def _gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether process ``pid`` is gone (killed and reaped) within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_closed_pool_refuses_calls() -> None:
    fresh = IsolatedPool(name="closing", size=1, limits=LIMITS)
    assert await fresh.call(workload.echo, 1, timeout_s=30) == 1
    await fresh.close()
    with pytest.raises(PoolClosedError):
        await fresh.call(workload.echo, 1, timeout_s=30)


async def test_only_importable_functions_are_accepted(pool: IsolatedPool) -> None:
    with pytest.raises(TypeError, match="module-level"):
        await pool.call(lambda: 1, timeout_s=30)


def test_a_pool_serves_several_threads_at_once(pool: IsolatedPool) -> None:
    results: list[object] = []

    def worker(n: int) -> None:
        results.append(pool.call_blocking(workload.echo, n, timeout_s=30))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [0, 1, 2, 3]  # type: ignore[type-var]


async def test_a_hardened_pool_keeps_workers_off_the_network_and_exec() -> None:
    from snapagent.sandbox.seccomp import harden_worker

    hardened = IsolatedPool(name="hardened", size=1, limits=LIMITS, initializer=harden_worker)
    try:
        assert await hardened.call(workload.start_thread, timeout_s=30) == 1  # threads still work
        with pytest.raises(RemoteError) as info:
            await hardened.call(workload.open_socket, timeout_s=30)
        assert info.value.type_name == "PermissionError"
        with pytest.raises(RemoteError) as info:
            await hardened.call(workload.run_program, timeout_s=30)
        assert info.value.type_name == "PermissionError"
        with pytest.raises(WorkerTimeoutError, match="CPU"):  # the CPU limit is still re-armed
            await hardened.call(workload.burn_cpu, 60, timeout_s=120)
        assert await hardened.call(workload.echo, "ok", timeout_s=30) == "ok"
    finally:
        await hardened.close()


async def test_the_parents_extra_path_never_shadows_a_standard_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/ holds an ``http.py``; a test that put bench/ on sys.path once made every worker
    started later import it instead of the stdlib (workers died with exit code 1)."""
    (tmp_path / "http.py").write_text("raise RuntimeError('the shadowing http.py ran')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fresh = IsolatedPool(name="path", size=1, limits=LIMITS)
    try:
        where = await fresh.call(workload.stdlib_http_file, timeout_s=30)
    finally:
        await fresh.close()
    assert os.path.dirname(where) != str(tmp_path)
