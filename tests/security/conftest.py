"""Hostile-input tests use the API tests' app and users (SQLite and PostgreSQL)."""

from __future__ import annotations

from api.conftest import (  # noqa: F401  (fixtures, registered by being imported here)
    alice,
    api_knowledge,
    app,
    chat_settings,
    client,
    core_settings,
    execution_settings,
    make_app,
    server_settings,
)
