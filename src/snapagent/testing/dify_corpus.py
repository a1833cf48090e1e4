"""Where the real Dify exports used by the tests are (they are not part of the repository).

The 47 exports described in ``../shared/data/dify_dsl/README.md`` (46 by Dify users, MIT;
one Dify test fixture, Apache-2.0) are read from ``SNAPAGENT_DIFY_CORPUS`` or, by default,
``../shared/data/dify_dsl`` next to the checkout. Without them the corpus tests skip (saying
so); the fixtures under ``tests/interop/fixtures`` (written for SnapAgent) always run.

    for path in require_corpus(): ...
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["FIXTURES", "corpus_files", "require_corpus"]

_CHECKOUT = Path(__file__).resolve().parents[3]
FIXTURES = _CHECKOUT / "tests" / "interop" / "fixtures"
"""Dify exports written for SnapAgent's tests (newer DSL shapes, bad files)."""
_CANDIDATES = (
    _CHECKOUT.parent / "shared/data/dify_dsl",
    _CHECKOUT.parent.parent / "shared/data/dify_dsl",
)


def _corpus_dir() -> Path | None:
    configured = os.environ.get("SNAPAGENT_DIFY_CORPUS")
    if configured:
        return Path(configured)
    return next((path for path in _CANDIDATES if path.is_dir()), None)


def corpus_files() -> list[Path]:
    """The real exports (sorted), or [] when they are not available."""
    folder = _corpus_dir()
    if folder is None or not folder.is_dir():
        return []
    return sorted(folder.glob("*.yml")) + sorted(folder.glob("*.yaml"))


def require_corpus() -> list[Path]:
    files = corpus_files()
    if not files:
        pytest.skip("the real Dify exports are not here: set SNAPAGENT_DIFY_CORPUS")
    return files
