"""`snapagent demo`: seed a working installation and serve it (what `make run` calls).

    snapagent demo               # seed (idempotent), print curl commands, serve on :8000
    snapagent demo --no-serve    # seed and print only

Seeds a user, an API key, a knowledge base from the bundled documents (waiting until they are
indexed) and a published bot, on the same database `snapagent serve` uses.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from typing import Annotated

import typer

from snapagent.cli.serve import HostOption, PortOption, prepare, run_server
from snapagent.db.session import Database
from snapagent.demo.seed import DemoSetup, seed_demo
from snapagent.errors import SnapAgentError
from snapagent.knowledge.records import EmbeddingResolver
from snapagent.nodes import default_registry
from snapagent.server_settings import ServerSettings
from snapagent.services.accounts import Credentials
from snapagent.services.knowledge import KnowledgeService, default_embedding_resolver
from snapagent.settings import CoreSettings

__all__ = ["curl_commands", "register"]


def embedding_resolver() -> EmbeddingResolver:
    """Where the demo gets embedding models (tests replace this)."""
    return default_embedding_resolver()


async def _seed(settings: ServerSettings, core: CoreSettings) -> DemoSetup:
    db = Database.from_settings(core)
    knowledge = KnowledgeService(db, embeddings=embedding_resolver())
    credentials = Credentials.from_settings(settings, core.data_dir)
    knowledge.start()
    try:
        return await seed_demo(db, knowledge, credentials, default_registry(), core.data_dir)
    finally:
        await knowledge.close()
        await db.dispose()


def curl_commands(setup: DemoSetup, base_url: str) -> list[str]:
    """Copy-paste commands that exercise the demo bot."""
    auth = '-H "Authorization: Bearer $SNAPAGENT_API_KEY"'
    json_header = '-H "Content-Type: application/json"'

    def chat(message: str, *, stream: bool = False) -> str:
        body: dict[str, object] = {"bot_id": setup.bot_id, "message": message}
        if stream:
            body["stream"] = True
        flags = "-N " if stream else ""
        payload = shlex.quote(json.dumps(body, ensure_ascii=False))
        return f"curl -s {flags}{base_url}/api/v1/chat {auth} {json_header} -d {payload}"

    bot = f"{base_url}/api/v1/bots/{setup.bot_id}"
    return [
        f"export SNAPAGENT_API_KEY={setup.api_key}",
        f"curl -s {base_url}/health",
        chat("What does the statistics endpoint report?"),
        chat("1년 이상 근무하면 연차가 며칠 주어지나요?"),
        chat("How do I receive the answer while it is being written?", stream=True),
        f"curl -s {bot}/workflow-versions {auth}",
        f'curl -s "{bot}/workflow-executions?limit=10" {auth}',
        f"curl -s {bot}/workflow-executions/statistics {auth}",
    ]


def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after seeding.")
    ] = True,
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Seed a demo user, API key, knowledge base and published bot; then serve."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    try:
        settings = ServerSettings.model_validate({**ServerSettings().model_dump(), **overrides})
        core = CoreSettings()
        prepare(settings, core)
        typer.echo("Seeding the demo (the first run embeds the bundled documents)...")
        setup = asyncio.run(_seed(settings, core))
    except SnapAgentError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    failed = [d for d in setup.documents if d.status != "indexed"]
    for doc in failed:
        typer.echo(f"warning: {doc.filename} was not indexed: {doc.error}", err=True)

    base_url = f"http://{settings.host}:{settings.port}"
    typer.echo(
        f"\nDemo ready: bot {setup.bot_id} (version {setup.version_number}), knowledge base "
        f"{setup.knowledge_base_id} with {len(setup.documents) - len(failed)} documents.\n"
        f"Log in as {setup.email} / {setup.password}   API docs: {base_url}/docs\n"
    )
    for line in curl_commands(setup, base_url):
        typer.echo(line)
    if serve:
        typer.echo("")
        run_server(settings)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
