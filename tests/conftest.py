"""Shared test configuration and database fixtures.

Database fixtures (use them from any test folder):

- ``sqlite_url``: an async URL of a fresh SQLite file in ``tmp_path``.
- ``pg_server`` (session): a real PostgreSQL 16 + pgvector from the ``pgserver`` wheel, started
  once on 127.0.0.1 and stopped at the end. Set ``SNAPAGENT_TEST_POSTGRES_URL`` (an asyncpg URL
  of a superuser on a server with pgvector) to use an existing server instead.
- ``postgres_url``: an async URL of a fresh database on that server, dropped afterwards.
- ``database_url``: parametrized over ``sqlite`` and ``postgres`` (the latter marked
  ``postgres``); ``migrated_db``: a :class:`~snapagent.db.session.Database` on it, at head.

Without PostgreSQL: ``pytest -m "not postgres"``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from sqlalchemy.engine import make_url

from snapagent.db.migrate import upgrade
from snapagent.db.session import Database
from snapagent.errors import DefinitionError, ProviderError

if TYPE_CHECKING:  # imported lazily: a broken knowledge module must not break every test
    from snapagent.services.knowledge import KnowledgeService

# Nothing may download weights at run time: make any accidental hub access fail loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PG_DIR_PREFIX = "snapagent-test-pg-"
PG_SYSTEM_USER = "snapagent-pg"


@dataclass(frozen=True)
class PgServer:
    """A running PostgreSQL: where it listens and how to run SQL on it as the superuser."""

    host: str
    port: int
    user: str
    bin_dir: Path
    password: str | None = None

    def url(self, database: str = "postgres") -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql+asyncpg://{auth}@{self.host}:{self.port}/{database}"

    def sql(self, statement: str) -> None:
        env = {**os.environ, "PGPASSWORD": self.password or ""}
        target = ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", "postgres"]
        subprocess.run(
            [str(self.bin_dir / "psql"), *target, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement],
            check=True,
            capture_output=True,
            timeout=60,
            env=env,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as(user: str | None, args: list[str], **kw: object) -> None:
    cmd = ["runuser", "-u", user, "--", *args] if user else args
    subprocess.run(cmd, check=True, capture_output=True, timeout=120, **kw)  # type: ignore[call-overload]


def _unprivileged_user() -> str | None:
    """initdb refuses root: run PostgreSQL as a system user we create if necessary."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def _remove_stale_dirs() -> None:
    """Delete data dirs of earlier runs whose server is no longer running (never a live one)."""
    for path in Path(tempfile.gettempdir()).glob(f"{PG_DIR_PREFIX}*"):
        pid_file = path / "data" / "postmaster.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), 0)
                continue  # alive: another test session owns it
            except (ProcessLookupError, ValueError):
                pass
            except PermissionError:
                continue
        if time.time() - path.stat().st_mtime > 60:
            shutil.rmtree(path, ignore_errors=True)


def _bundled_bin_dir() -> Path:
    # Located without importing pgserver: its import warns (platformdirs) and we need only binaries.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the pgserver wheel is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _start_bundled_server() -> tuple[PgServer, Path, str | None]:
    bin_dir = _bundled_bin_dir()
    user = _unprivileged_user()
    _remove_stale_dirs()
    root = Path(tempfile.mkdtemp(prefix=PG_DIR_PREFIX))
    if user:
        shutil.chown(root, user=user)
    data = root / "data"
    _run_as(
        user,
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "--auth=trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ],
    )
    last_error: Exception | None = None
    for _attempt in range(5):  # another process may grab the port between probe and bind
        port = _free_port()
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            _run_as(
                user,
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "-l",
                    str(root / "server.log"),
                    "start",
                ],
            )
            return PgServer("127.0.0.1", port, "postgres", bin_dir), root, user
        except subprocess.CalledProcessError as exc:
            last_error = exc
    log = (root / "server.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"could not start the bundled PostgreSQL: {last_error}\n{log}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    external = os.environ.get("SNAPAGENT_TEST_POSTGRES_URL")
    if external:
        url = make_url(external)
        yield PgServer(
            url.host or "127.0.0.1",
            url.port or 5432,
            url.username or "postgres",
            _bundled_bin_dir(),  # its psql client works against any server
            url.password,
        )
        return
    server, root, user = _start_bundled_server()
    try:
        yield server
    finally:
        _run_as(
            user,
            [
                str(server.bin_dir / "pg_ctl"),
                "-D",
                str(root / "data"),
                "-w",
                "-m",
                "immediate",
                "stop",
            ],
        )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(pg_server: PgServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_server.sql(f"CREATE DATABASE {name}")
    try:
        yield pg_server.url(name)
    finally:
        pg_server.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'snapagent.db'}"


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def migrated_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    await upgrade(db)
    try:
        yield db
    finally:
        await db.dispose()


# -- a deterministic embedding model for tests ------------------------------------------------


class HashEmbeddingModel:
    """A real bag-of-character-bigrams embedding: similar texts get similar vectors.

    Deterministic, instant and dependency-free, so knowledge tests need no model weights.
    Texts containing ``fail_marker`` make `embed_documents` raise a provider error.
    """

    def __init__(self, dimension: int = 64, *, fail_marker: str | None = None) -> None:
        self._dimension = dimension
        self.fail_marker = fail_marker
        self.calls = 0

    @property
    def model_id(self) -> str:
        return f"test-hash-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dimension, dtype=np.float32)
        folded = "".join(text.lower().split())
        for i in range(max(len(folded) - 1, 1)):
            gram = folded[i : i + 2]
            digest = hashlib.blake2b(gram.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest[:4], "little") % self._dimension] += 1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail_marker and any(self.fail_marker in t for t in texts):
            raise ProviderError("test embedding server refused the batch", provider="test")
        return (
            np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self._dimension))
        )

    async def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def hash_embeddings() -> HashEmbeddingModel:
    return HashEmbeddingModel()


@pytest.fixture
async def knowledge_service(
    migrated_db: Database, hash_embeddings: HashEmbeddingModel
) -> AsyncIterator[KnowledgeService]:
    """A `KnowledgeService` on `migrated_db` with the hash embedding model, worker running.

    Embedding specs starting with ``unknown`` are rejected like an unknown provider.
    """

    from snapagent.services.knowledge import KnowledgeService

    def resolve(spec: str) -> HashEmbeddingModel:
        if spec.startswith("unknown"):
            raise DefinitionError(f"unknown embedding model {spec!r}")
        return hash_embeddings

    service = KnowledgeService(migrated_db, embeddings=resolve)
    service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def fresh_process_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root logging as a freshly started CLI process has it (no handlers left by other tests).

    The server installs a stdout log handler on the root logger; a CLI test that parses stdout
    (``--json``) must not see lines from a handler an earlier test installed.
    """
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.WARNING)
