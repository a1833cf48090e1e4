"""`serve --workers N`: uvicorn's supervisor, with a listening socket of its own per worker.

uvicorn's supervisor gives every worker the same listening socket, and a new connection goes
to whichever worker's event loop accepts first - it accepts every connection waiting, not one.
Clients that open their keep-alive connections in a burst (a load balancer warming up, `wrk`'s
32 in `bench/http.py`) were split 30/2 and 21/11 between two workers: one saturated while the
other idled, and two workers answered 1.3x what one did.

Here each worker listens on a socket of its own, every one bound to the same address with
``SO_REUSEPORT``, and the kernel spreads new connections over them (a hash of the client's
address and port), whatever worker happens to be awake. The supervisor creates the sockets and
keeps them: a worker that dies (or is replaced on SIGHUP) hands its socket, with the
connections waiting in its queue, to the worker that replaces it. SIGTTIN adds a worker with a
new socket; SIGTTOU retires the last worker and closes its socket (connections still waiting
in that queue are reset, as when any listening socket closes).

Elsewhere than on Linux uvicorn's own supervisor runs, one shared socket (macOS and most BSDs
accept ``SO_REUSEPORT`` but do not spread connections over the sockets).
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process, logger

__all__ = ["SocketPerWorker", "bind_reuse_port", "supports_reuse_port"]


def supports_reuse_port() -> bool:
    """Linux spreads connections over sockets sharing a port; macOS and most BSDs accept the
    option but hand every connection to one of them (FreeBSD needs ``SO_REUSEPORT_LB``)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_reuse_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` that other such sockets may share (not listening
    yet: the worker's server listens on it). ``port`` 0 is refused - sharing needs one port."""
    if port == 0:
        raise ValueError("sockets per worker need a fixed port")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class SocketPerWorker(Multiprocess):
    """uvicorn's `Multiprocess` (health checks, restarts, signals) where worker ``i`` serves
    ``sockets[i]`` alone; ``new_socket`` makes the socket of a worker added by SIGTTIN."""

    def __init__(
        self, config: Config, sockets: list[socket.socket], new_socket: Callable[[], socket.socket]
    ) -> None:
        super().__init__(config, sockets)
        self._new_socket = new_socket

    def _process(self, index: int) -> Process:
        process = Process(self.config, [self.sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._process(index) for index in range(self.processes_num)]

    def restart_all(self) -> None:
        """SIGHUP: replace each worker, the new one on its socket before the old one leaves
        (uvicorn's order; the socket keeps its queue across the change)."""
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New child process [{new.pid}] was not ready in time; "
                        f"keeping worker [{old.pid}] and aborting the restart."
                    )
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()  # hung: gone
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # a restart would fail the same way
                logger.error(f"Child process [{process.pid}] failed to start, stopping.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            self.processes[index] = self._process(index)

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN, increasing the number of processes.")
        self.sockets.append(self._new_socket())
        self.processes_num += 1
        self.processes.append(self._process(len(self.processes)))

    def handle_ttou(self) -> None:
        logger.info("Received SIGTTOU, decreasing number of processes.")
        if self.processes_num <= 1:
            logger.info("Already reached one process, cannot decrease it any further.")
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        self.sockets.pop().close()
