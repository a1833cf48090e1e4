"""The code sandbox's escape suite: hostile code against the real sandbox, at every isolation
level this machine offers (namespaces; Landlock alone, as in a container that refuses
namespaces; and a non-root server). Every attempt must fail - as the code's own error, a
timeout, a memory or output error - leak nothing, and leave the sandbox answering the next call.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import socket
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from snapagent.isolation import OutputTooLargeError, WorkerMemoryError, WorkerTimeoutError
from snapagent.isolation.process import package_root
from snapagent.sandbox import CodeError, CodeSandbox, CodeSandboxSettings

SECRET = "s3cret-value-that-must-not-leak"


@pytest.fixture(scope="module", params=["namespaces", "landlock"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[CodeSandbox]:
    os.environ["SNAPAGENT_ESCAPE_TEST_SECRET"] = SECRET  # the zygote must not inherit it
    sandbox = CodeSandbox(CodeSandboxSettings(sandbox=request.param, concurrency=1, memory_mb=64))
    try:
        level = asyncio.run(sandbox.status()).level
        if level != request.param:
            pytest.skip(f"{request.param} is not available here: {level}")
        yield sandbox
    finally:
        sandbox.close_blocking()
        os.environ.pop("SNAPAGENT_ESCAPE_TEST_SECRET", None)


async def run(sandbox: CodeSandbox, body: str, timeout_s: float = 5, **inputs: object) -> object:
    """Run ``def main(**inputs): <body>`` and return its ``result`` output."""
    names = ", ".join(inputs)
    code = f"def main({names}):\n" + "".join(f"    {line}\n" for line in body.splitlines())
    reply = await sandbox.execute("python3", code, inputs, timeout_s=timeout_s)
    assert isinstance(reply, dict)
    return reply.get("result")


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A world-readable file standing in for the data directory and the database."""
    path = tmp_path / "data" / "snapagent.db"
    path.parent.mkdir()
    path.write_text(SECRET)
    path.chmod(0o644)
    return path


async def test_the_sandbox_reports_its_level(sandbox: CodeSandbox) -> None:
    status = await sandbox.status()
    assert status.level in ("namespaces", "landlock")
    assert await run(sandbox, "return {'result': 6 * 7}") == 42


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "/etc/shadow", "/proc/self/environ", "/proc/1/environ", "/root", "/home"],
)
async def test_host_files_cannot_be_read(sandbox: CodeSandbox, path: str) -> None:
    with pytest.raises(CodeError, match=r"FileNotFoundError|PermissionError|NotADirectory"):
        await run(sandbox, "import os\nreturn {'result': os.listdir(p) if os.path.isdir(p) "
                  "else open(p).read()}", p=path)  # fmt: skip


async def test_the_data_directory_and_database_cannot_be_read(
    sandbox: CodeSandbox, secret_file: Path
) -> None:
    for path in (secret_file, secret_file.parent):
        with pytest.raises(CodeError, match=r"FileNotFoundError|PermissionError"):
            await run(sandbox, "import os\nreturn {'result': os.listdir(p) if os.path.isdir(p) "
                      "else open(p).read()}", p=str(path))  # fmt: skip


async def test_the_servers_environment_cannot_be_read(sandbox: CodeSandbox) -> None:
    env = await run(sandbox, "import os\nreturn {'result': dict(os.environ)}")
    assert env == {}
    server = os.getpid()
    with pytest.raises(CodeError, match=r"FileNotFoundError|PermissionError"):
        await run(sandbox, "return {'result': open(f'/proc/{p}/environ').read()}", p=server)


async def test_files_cannot_be_written(sandbox: CodeSandbox, tmp_path: Path) -> None:
    target = tmp_path / "written"
    for path in (str(target), "/tmp/x", "/x"):
        with pytest.raises(CodeError, match=r"Error"):
            await run(sandbox, "open(p, 'w').write('x')\nreturn {'result': 1}", p=path)
    assert not target.exists()


async def test_no_socket_reaches_loopback(sandbox: CodeSandbox) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        with pytest.raises(CodeError, match="PermissionError"):
            await run(sandbox, "import socket\ns = socket.create_connection(('127.0.0.1', p), 1)"
                      "\nreturn {'result': 1}", p=port)  # fmt: skip
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()


@pytest.mark.parametrize("family", ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK", "AF_PACKET"])
async def test_no_socket_of_any_family_can_be_made(sandbox: CodeSandbox, family: str) -> None:
    with pytest.raises(CodeError, match="PermissionError"):
        await run(sandbox, "import socket\nsocket.socket(getattr(socket, f))\nreturn {}", f=family)


async def test_names_cannot_be_resolved(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeError, match=r"gaierror|PermissionError|OSError"):
        await run(sandbox, "import socket\nreturn {'result': socket.getaddrinfo('localhost', 80)}")


async def test_no_subprocess_or_exec(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeError, match="PermissionError"):
        await run(
            sandbox, "import subprocess\nreturn {'result': subprocess.run(['id']).returncode}"
        )
    with pytest.raises(CodeError, match="PermissionError"):
        await run(sandbox, "import os\nos.execv('/bin/sh', ['sh'])")
    status = await run(sandbox, "import os\nreturn {'result': os.system('id')}")
    assert status != 0


async def test_a_fork_bomb_goes_nowhere(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeError, match="PermissionError"):
        await run(sandbox, "import os\nwhile True:\n    os.fork()")
    with pytest.raises(CodeError, match="RuntimeError: can't start new thread"):
        await run(sandbox, "import threading\nwhile True:\n"
                  "    threading.Thread(target=lambda: None).start()")  # fmt: skip


async def test_ctypes_system_calls_are_refused(sandbox: CodeSandbox) -> None:
    # unshare(CLONE_NEWUSER), mount, ptrace(PTRACE_ATTACH, 1), io_uring_setup, bpf, kill(1)
    body = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = {'unshare': libc.unshare(0x10000000),\n"
        "         'mount': libc.mount(b'none', b'/', b'tmpfs', 0, None),\n"
        "         'ptrace': libc.ptrace(16, 1, 0, 0),\n"
        "         'io_uring': libc.syscall(425, 8, None),\n"
        "         'bpf': libc.syscall(321, 0, None, 0),\n"
        "         'kill': libc.kill(1, 9),\n"
        "         'setuid': libc.setuid(12345)}\n"
        "return {'result': calls}"
    )
    calls = await run(sandbox, body)
    assert isinstance(calls, dict)
    assert all(rc == -1 for rc in calls.values()), calls


async def test_subclasses_tricks_reach_nothing(sandbox: CodeSandbox) -> None:
    body = (
        "wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close']"
        "\nsystem = wrap[0].__init__.__globals__['system']\n"
        "return {'result': system('cat /etc/passwd')}"
    )
    assert await run(sandbox, body) != 0
    body = (
        "b = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings']"
        "\nopen_ = b[0]()._module.__builtins__['open']\n"
        "return {'result': open_('/etc/passwd').read()}"
    )
    with pytest.raises(CodeError, match=r"FileNotFoundError|PermissionError"):
        await run(sandbox, body)


async def test_signals_cannot_reach_the_server(sandbox: CodeSandbox) -> None:
    for target in (os.getpid(), 1):
        with pytest.raises(CodeError, match=r"PermissionError|ProcessLookupError"):
            await run(sandbox, "import os, signal\nos.kill(p, signal.SIGKILL)", p=target)
    assert await run(sandbox, "return {'result': 'alive'}") == "alive"


async def test_a_huge_allocation_is_a_memory_error(sandbox: CodeSandbox) -> None:
    with pytest.raises(WorkerMemoryError):
        await run(sandbox, "return {'result': len(bytearray(1 << 31))}")
    with pytest.raises(WorkerMemoryError):
        await run(sandbox, "x = []\nwhile True:\n    x.append('y' * 10_000_000)")


async def test_an_infinite_loop_is_stopped_at_the_deadline(sandbox: CodeSandbox) -> None:
    started = time.monotonic()
    with pytest.raises(WorkerTimeoutError):
        await run(sandbox, "while True:\n    pass", timeout_s=1)
    assert time.monotonic() - started < 4
    assert await run(sandbox, "return {'result': 'next'}") == "next"


async def test_a_huge_output_is_refused(sandbox: CodeSandbox) -> None:
    with pytest.raises(OutputTooLargeError):
        await run(sandbox, "return {'result': 'x' * (8 << 20)}")
    with pytest.raises(OutputTooLargeError):
        await run(sandbox, "import os\nwhile True:\n    os.write(1, b'x' * 65536)", timeout_s=5)
    assert await run(sandbox, "return {'result': 'small'}") == "small"


async def test_garbage_on_the_reply_pipe_is_an_error_not_a_result(sandbox: CodeSandbox) -> None:
    with pytest.raises(CodeError):
        await run(sandbox, "import os\nos.write(1, b'\\xff' * 100)\nos._exit(0)")
    assert await run(sandbox, "return {'result': 'clean'}") == "clean"


async def test_no_state_survives_from_one_call_to_the_next(sandbox: CodeSandbox) -> None:
    await run(sandbox, "import builtins\nbuiltins.LEAK = 'a'\nreturn {'result': 1}")
    leaked = await run(sandbox, "import builtins\nreturn {'result': hasattr(builtins, 'LEAK')}")
    assert leaked is False


async def test_the_event_loop_keeps_running_during_a_long_call(sandbox: CodeSandbox) -> None:
    ticks: list[float] = []

    async def health() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(health())
    with pytest.raises(WorkerTimeoutError):
        await run(sandbox, "while True:\n    pass", timeout_s=1)
    ticker.cancel()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 20
    assert max(gaps) < 0.5


def _world_readable(path: Path) -> bool:
    return all(
        p.stat().st_mode & stat.S_IXOTH and p.stat().st_mode & stat.S_IROTH
        for p in (path, *path.parents)
        if p != Path("/")
    )


SYSTEM_PYTHON = shutil.which("python3.11", path="/usr/bin")


@pytest.mark.skipif(
    os.geteuid() != 0 or SYSTEM_PYTHON is None or not _world_readable(Path(package_root())),
    reason="needs root, a system Python 3.11 and a world-readable checkout",
)
async def test_a_non_root_server_gets_namespaces_too(secret_file: Path) -> None:
    """As an unprivileged user (the container's case when namespaces are allowed): the zygote
    maps itself to root in a new user namespace and drops every capability."""
    assert SYSTEM_PYTHON is not None
    sandbox = CodeSandbox(
        CodeSandboxSettings(concurrency=1), interpreter=SYSTEM_PYTHON, run_as=(65534, 65534)
    )
    try:
        status = await sandbox.status()
        assert status.level == "namespaces", status
        assert await run(sandbox, "import os\nreturn {'result': os.getuid()}") == 0
        for body in (
            "return {'result': open('/etc/passwd').read()}",
            f"return {{'result': open({str(secret_file)!r}).read()}}",
            "import socket\nsocket.socket()\nreturn {}",
            "import os\nos.fork()\nreturn {}",
        ):
            with pytest.raises(CodeError, match="Error"):
                await run(sandbox, body)
        caps = await run(
            sandbox,
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "return {'result': [libc.unshare(0x10000000), libc.setuid(1)]}",
        )
        assert caps == [-1, -1]
    finally:
        await sandbox.close()


def test_threads_in_the_server_are_not_forked() -> None:
    """Zygotes are spawned (fork+exec in C), so a busy server thread is no hazard."""
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    sandbox = CodeSandbox(CodeSandboxSettings(concurrency=1))
    try:
        status = asyncio.run(sandbox.status())
        assert status.level in ("namespaces", "landlock", "unavailable")
    finally:
        stop.set()
        sandbox.close_blocking()
    assert sys.modules["threading"].active_count() >= 1
