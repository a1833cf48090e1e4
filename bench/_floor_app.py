"""The floor `bench/http.py` measures SnapAgent against: the same shape of work, no database.

Run by `bench/http.py` as ``python bench/_floor_app.py PORT WORKERS``. A plain FastAPI app on
the same uvicorn settings as `snapagent serve` (uvloop, httptools, same
worker count): `GET /health` answers a small JSON body; `POST /api/v1/chat` checks the bearer
header, validates the same JSON body with pydantic and answers a chat-shaped JSON body. No
database, engine, middleware or logging: what the hardware, uvicorn and FastAPI allow.
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import sys
import uuid
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel, Field

# `snapagent serve`'s pair (snapagent.cli.serve.UVICORN_LOOP/HTTP; bench/http.py checks they
# agree). Not imported from there: each spawned worker re-imports this module, and it must
# stay light enough to answer uvicorn's worker health check.
LOOP, HTTP = "uvloop", "httptools"

app = FastAPI()


class ChatBody(BaseModel):
    bot_id: str = Field(min_length=1, max_length=64)
    message: str = Field(min_length=1, max_length=8000)
    session_id: str | None = Field(default=None, max_length=64)
    stream: bool = False


class ChatAnswer(BaseModel):
    answer: str
    session_id: str
    run_id: str
    version: int | None
    sources: list[dict[str, Any]]
    usage: dict[str, int]


@app.get("/health")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": "0", "database": {"status": "ok", "dialect": "none"}}


@app.post("/api/v1/chat")
async def chat(body: ChatBody, authorization: Annotated[str | None, Header()] = None) -> ChatAnswer:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "authentication required")
    session = body.session_id or uuid.uuid4().hex
    usage = {"input_tokens": 3, "output_tokens": 10, "total_tokens": 13}
    answer = f"From the provided context:\n- {body.message}"
    return ChatAnswer(
        answer=answer,
        session_id=session,
        run_id=uuid.uuid4().hex,
        version=1,
        sources=[],
        usage=usage,
    )


def main() -> None:
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    import uvicorn

    uvicorn.run(
        "_floor_app:app",
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        loop=LOOP,
        http=HTTP,
        timeout_worker_healthcheck=60,  # as `snapagent serve`: a busy machine starts slowly
    )


if __name__ == "__main__":
    main()
