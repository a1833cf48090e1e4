"""A real, throwaway PostgreSQL 16 + pgvector for tests and benchmarks (never product code).

The binaries come from the ``pgserver`` wheel (the ``dev`` extra). The server runs as an
unprivileged user (``initdb`` refuses root: a system user is created when needed), listens on
127.0.0.1 on a free port, keeps its data in a temporary directory, and trades durability for
speed (``fsync=off``). Data directories left by crashed earlier runs are removed on start
(never one whose server is still alive).

    with PostgresServer() as server:              # start(), then close() on exit
        url = server.create_database("bench")     # postgresql+asyncpg://postgres@127.0.0.1:…
        ...
        server.stop()                             # a database outage, same port and data
        server.start()

``PostgresServer.external(url)`` wraps a server you already run (an asyncpg URL of a superuser):
``url()``/``sql()``/``create_database()`` work, starting and stopping it is refused.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from snapagent.errors import SnapAgentError

__all__ = ["PG_DIR_PREFIX", "PostgresServer", "PostgresServerError", "free_port"]

PG_DIR_PREFIX = "snapagent-test-pg-"
PG_SYSTEM_USER = "snapagent-pg"
HOST = "127.0.0.1"
# Speed over durability: the data is thrown away; benches and tests open many connections.
SERVER_SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c max_connections=200"
)
STALE_AFTER_S = 60  # a directory this old without a live server is a leftover


class PostgresServerError(SnapAgentError, RuntimeError):
    """The bundled PostgreSQL could not be found, started, stopped or queried."""


def _check_identifier(name: str) -> None:
    # Database names go into SQL unquoted: plain lower-case identifiers only.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise PostgresServerError(
            f"database name {name!r}: use lower-case letters, digits and _ (at most 63)"
        )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (another process may still take it)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def bundled_bin_dir() -> Path:
    """The ``bin`` folder of the pgserver wheel (found without importing it: its import warns)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresServerError("the pgserver wheel is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _unprivileged_user() -> str | None:
    """None when not root; otherwise our system user, created on first use."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        add = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        subprocess.run([*add, PG_SYSTEM_USER], check=True, capture_output=True, timeout=60)
    return PG_SYSTEM_USER


def _remove_stale_dirs() -> None:
    """Delete data directories of earlier runs whose server is gone (never a live one)."""
    for path in Path(tempfile.gettempdir()).glob(f"{PG_DIR_PREFIX}*"):
        pid_file = path / "data" / "postmaster.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), 0)
                continue  # alive: another session owns it
            except (ProcessLookupError, ValueError):
                pass
            except PermissionError:
                continue  # alive, under another user
        try:
            if time.time() - path.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(path, ignore_errors=True)
        except FileNotFoundError:
            continue  # removed meanwhile by another session


class PostgresServer:
    """A PostgreSQL server of our own on 127.0.0.1 (or an external one, see `external`).

    server = PostgresServer().start()
    try:
        url = server.create_database("t_1")
    finally:
        server.close()
    """

    def __init__(self, *, user: str = "postgres") -> None:
        self.host = HOST
        self.port = 0  # chosen on the first start(), kept for restarts
        self.user = user
        self.password: str | None = None
        self.bin_dir = bundled_bin_dir()
        self._root: Path | None = None
        self._os_user: str | None = None
        self._external = False

    @classmethod
    def external(cls, url: str) -> PostgresServer:
        """A server that already runs, from an asyncpg URL of a superuser on it."""
        from sqlalchemy.engine import make_url  # only here: most users never need it

        parsed = make_url(url)
        server = cls(user=parsed.username or "postgres")
        server.host = parsed.host or HOST
        server.port = parsed.port or 5432
        server.password = parsed.password
        server._external = True
        return server

    @property
    def data_dir(self) -> Path | None:
        """The data directory (None before the first start and for an external server)."""
        return None if self._root is None else self._root / "data"

    def url(self, database: str = "postgres") -> str:
        """An async SQLAlchemy URL of ``database`` on this server, as the superuser."""
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql+asyncpg://{auth}@{self.host}:{self.port}/{database}"

    def sql(self, statement: str) -> None:
        """Run one SQL statement in the ``postgres`` database with the bundled ``psql``."""
        target = ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", "postgres"]
        args = [str(self.bin_dir / "psql"), *target, "-v", "ON_ERROR_STOP=1", "-q", "-c"]
        env = {**os.environ, "PGPASSWORD": self.password or ""}
        try:
            subprocess.run([*args, statement], check=True, capture_output=True, timeout=60, env=env)
        except subprocess.CalledProcessError as exc:
            detail = exc.stderr.decode(errors="replace").strip()
            raise PostgresServerError(f"psql failed on {statement!r}: {detail}") from exc

    def create_database(self, name: str) -> str:
        """``CREATE DATABASE name``; returns its URL (`url`)."""
        _check_identifier(name)
        self.sql(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS name``, cutting its open connections."""
        _check_identifier(name)
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def start(self) -> PostgresServer:
        """Create the data directory (first call) and start the server; returns self.

        After `stop`, starts again on the same port with the same data.
        """
        self._refuse_external("start")
        if self._root is None:
            self._init_data_dir()
        if self.port:
            self._pg_ctl_start()
            return self
        last_error: PostgresServerError | None = None
        for _attempt in range(5):  # another process may take the port between probe and bind
            self.port = free_port()
            try:
                self._pg_ctl_start()
                return self
            except PostgresServerError as exc:
                last_error = exc
        self.port = 0
        self.close()  # nothing left behind: the error carries the server log
        raise PostgresServerError(f"could not start the bundled PostgreSQL: {last_error}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: open connections are cut, as when a database fails)."""
        self._refuse_external("stop")
        self._pg_ctl("-m", mode, "stop")

    def close(self) -> None:
        """Stop the server at once if it runs and delete its data. Safe to call twice."""
        if self._external or self._root is None:
            return
        if (self._root / "data" / "postmaster.pid").exists():  # running (or crashed)
            self._pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None

    def __enter__(self) -> PostgresServer:
        return self if self._external else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _refuse_external(self, action: str) -> None:
        if self._external:
            raise PostgresServerError(f"will not {action} an external server ({self.url()})")

    def _init_data_dir(self) -> None:
        self._os_user = _unprivileged_user()
        _remove_stale_dirs()
        self._root = Path(tempfile.mkdtemp(prefix=PG_DIR_PREFIX))
        if self._os_user:
            shutil.chown(self._root, user=self._os_user)
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self._root / "data"), "--auth=trust"]
        self._run([*initdb, "-U", self.user, "-E", "UTF8", "--locale=C", "--no-sync"])

    def _pg_ctl_start(self) -> None:
        assert self._root is not None
        options = f"-p {self.port} -k {self._root} {SERVER_SETTINGS}"
        log = str(self._root / "server.log")
        self._pg_ctl("-t", "60", "-o", options, "-l", log, "start")

    def _pg_ctl(self, *args: str) -> None:
        assert self._root is not None
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self._root / "data"), "-w", *args])

    def _run(self, args: list[str]) -> None:
        """Run a server binary as the unprivileged user; failures carry the server log tail."""
        cmd = ["runuser", "-u", self._os_user, "--", *args] if self._os_user else args
        try:
            subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        except subprocess.CalledProcessError as exc:
            output = exc.stderr.decode(errors="replace").strip()
            log_path = self._root / "server.log" if self._root else None
            log = (
                log_path.read_text(errors="replace")[-2000:]
                if log_path and log_path.exists()
                else ""
            )
            raise PostgresServerError(f"{Path(args[0]).name} failed: {output}\n{log}") from exc
