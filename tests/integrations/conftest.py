"""The OpenAI-compatible API and the MCP server, driven by the official clients against the
real app served by uvicorn on loopback (SQLite and PostgreSQL, like the API tests).

- ``live``: the app of ``tests/api/conftest.py`` served on 127.0.0.1 (its base URL).
- The API tests' fixtures (``app``, ``client``, ``alice``, ``bob``, ``chat_model``...).

Helpers to set things up through the API are in :mod:`integrations.helpers`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from api.conftest import (  # noqa: F401  (fixtures, registered by being imported here)
    alice,
    api_knowledge,
    app,
    bob,
    chat_model,
    chat_settings,
    client,
    core_settings,
    execution_settings,
    make_app,
    server_settings,
)


@pytest.fixture
async def live(app: FastAPI, client: httpx.AsyncClient) -> AsyncIterator[str]:  # noqa: F811
    """``app`` on a real uvicorn server (its lifespan is run by the ``client`` fixture)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # up to 10 s
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving
