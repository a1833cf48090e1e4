"""Shared test configuration and database fixtures.

Database fixtures (use them from any test folder):

- ``sqlite_url``: an async URL of a fresh SQLite file in ``tmp_path``.
- ``pg_server`` (session): a real PostgreSQL 16 + pgvector from the ``pgserver`` wheel, started
  once on 127.0.0.1 and stopped at the end. Set ``SNAPAGENT_TEST_POSTGRES_URL`` (an asyncpg URL
  of a superuser on a server with pgvector) to use an existing server instead.
- ``postgres_url``: an async URL of a fresh database on that server, dropped afterwards.
- ``database_url``: parametrized over ``sqlite`` and ``postgres`` (the latter marked
  ``postgres``); ``migrated_db``: a :class:`~snapagent.db.session.Database` on it, at head.

``migrated_db`` does not migrate each test's database from blank: the session migrates one
template per backend to head once, and each test gets its own copy (a file copy on SQLite,
``CREATE DATABASE ... TEMPLATE`` on PostgreSQL). A database that is not blank when
``migrated_db`` opens it is upgraded as before. Blank-to-head migrations keep their own tests
(``tests/db``), which take ``database_url`` without ``migrated_db``.

Without PostgreSQL: ``pytest -m "not postgres"``.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from snapagent.db.migrate import upgrade
from snapagent.db.session import Database
from snapagent.errors import DefinitionError, ProviderError
from snapagent.testing.postgres import PostgresServer, PostgresServerError

if TYPE_CHECKING:  # imported lazily: a broken knowledge module must not break every test
    from snapagent.services.knowledge import KnowledgeService

# Nothing may download weights at run time: make any accidental hub access fail loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Apps and servers under test serve no console build, whether or not console/dist exists in
# this checkout: an unknown path is a 404 everywhere. tests/api/test_console_serving.py and the
# console's own browser suite serve a build explicitly.
os.environ["SNAPAGENT_CONSOLE_DIR"] = os.devnull + "/no-console-build"


def _freeze_survivors() -> None:
    """Collect what is garbage now, then move every survivor out of the cyclic GC's reach (as
    `snapagent serve` does after start-up).

    A pytest process holds ~550,000 objects after collection (the product, the test modules,
    their libraries) and gains more per module (module fixtures, caches); a full collection
    walked them all again - 1-2 s each on a busy machine, in the middle of timed sections and
    of the bench harness, which collects before every batch - though hardly any of them can
    become garbage. Frozen objects are still freed by reference counting."""
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session: pytest.Session) -> None:
    _freeze_survivors()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After a module's last test (its module fixtures are gone by then): only what the module
    made is walked, the rest is frozen already."""
    result = yield
    if nextitem is None or nextitem.path != item.path:
        _freeze_survivors()
    return result


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    external = os.environ.get("SNAPAGENT_TEST_POSTGRES_URL")
    server = PostgresServer.external(external) if external else PostgresServer()
    with server:
        yield server


@pytest.fixture
def postgres_url(pg_server: PostgresServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    url = pg_server.create_database(name)
    try:
        yield url
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'snapagent.db'}"


def _run_in_own_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run ``coro`` to completion on a loop of its own thread: asyncio.run() here would replace
    the event loop pytest-asyncio keeps current in the main thread."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target, name="migrate-template")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


async def _upgrade_and_dispose(url: str) -> None:
    db = Database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def sqlite_head_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; `migrated_db` copies it."""
    path = tmp_path_factory.mktemp("head-template") / "snapagent.db"
    _run_in_own_thread(_upgrade_and_dispose(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_head_template(pg_server: PostgresServer) -> Iterator[str]:
    """A PostgreSQL database migrated to head once per session (its name); tests get copies."""
    name = f"t_head_{uuid.uuid4().hex[:12]}"
    _run_in_own_thread(_upgrade_and_dispose(pg_server.create_database(name)))
    try:
        yield name
    finally:
        pg_server.drop_database(name)


_HEAD_COPIES: set[str] = set()
"""URLs of live copies of a head template: `migrated_db` need not upgrade them."""
_TEMPLATE_BUSY_S = 10.0  # a backend of the migration may take a moment to leave the template


@pytest.fixture
def postgres_head_url(pg_server: PostgresServer, postgres_head_template: str) -> Iterator[str]:
    """An async URL of a fresh database at head (a copy of the session's template)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    deadline = time.monotonic() + _TEMPLATE_BUSY_S
    while True:
        try:
            pg_server.sql(f"CREATE DATABASE {name} TEMPLATE {postgres_head_template}")
            break
        except PostgresServerError as exc:
            if "being accessed by other users" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    url = pg_server.url(name)
    _HEAD_COPIES.add(url)
    try:
        yield url
    finally:
        _HEAD_COPIES.discard(url)
        pg_server.drop_database(name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    if request.param == "postgres" and "migrated_db" in request.fixturenames:
        fixture = "postgres_head_url"  # it is migrated anyway: start from the template copy
    url: str = request.getfixturevalue(fixture)
    return url


def _copy_sqlite_template(url: str, template: Path) -> bool:
    """Copy the head template to the SQLite file ``url`` names if that file does not exist yet
    (a database a test or fixture already wrote to is left alone); True if copied."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return False
    path = Path(url.removeprefix(prefix))
    if path.exists() or not path.parent.is_dir():
        return False
    shutil.copyfile(template, path)
    return True


@pytest.fixture
async def migrated_db(database_url: str, sqlite_head_template: Path) -> AsyncIterator[Database]:
    at_head = database_url in _HEAD_COPIES or _copy_sqlite_template(
        database_url, sqlite_head_template
    )
    db = Database(database_url)
    if at_head:
        # The pool starts warm, as after a migration: a test that ends at once (a skip) must
        # not close its loop while a background task is still opening the first connection.
        await db.check()
    else:
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
