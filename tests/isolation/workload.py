"""Functions the isolation tests run inside workers (module-level, so workers can import them)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from snapagent.errors import NodeExecutionError


@dataclass(frozen=True)
class Parsed:
    """A result type a pool may allow."""

    title: str
    pages: int


class NotAllowed:
    """A result type no pool allows."""


def echo(value: object) -> object:
    return value


def pid() -> int:
    return os.getpid()


def environ() -> dict[str, str]:
    return dict(os.environ)


def sleep_interval(seconds: float) -> tuple[float, float]:
    start = time.monotonic()
    time.sleep(seconds)
    return start, time.monotonic()


def burn_cpu(seconds: float) -> int:
    end = time.process_time() + seconds
    count = 0
    while time.process_time() < end:
        count += 1
    return count


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def exit_now(code: int) -> None:
    os._exit(code)


def raise_value_error(text: str) -> None:
    raise ValueError(text)


def raise_node_error(node_id: str) -> None:
    raise NodeExecutionError(f"node {node_id!r} failed in a worker", node_id=node_id)


def parsed(title: str) -> Parsed:
    return Parsed(title, 3)


def not_allowed() -> NotAllowed:
    return NotAllowed()


def big_bytes(size: int) -> bytes:
    return b"x" * size


def open_socket() -> None:
    import socket

    socket.socket().close()


def run_program() -> int:
    import subprocess

    return subprocess.run(["true"], check=False).returncode


def start_thread() -> int:
    import threading

    results: list[int] = []
    thread = threading.Thread(target=lambda: results.append(1))
    thread.start()
    thread.join()
    return len(results)


def stdlib_http_file() -> str:
    """Where ``http`` comes from inside the worker (importing it for the first time)."""
    import http

    return str(http.__file__)
