"""`snapagent kb ...`: knowledge bases from the command line (until/besides the HTTP API).

    snapagent kb create handbook
    snapagent kb add handbook docs/*.md policy.pdf      # progress bar; bad files named
    snapagent kb query handbook "연차는 며칠?" --top-k 3 --mode hybrid --json
    snapagent kb list
    snapagent kb reembed handbook --model local:multilingual-e5-small   # progress bar
    snapagent kb list --as ada@example.com

Every command acts as one account (`snapagent.cli.acting`: ``--as EMAIL``, else
``SNAPAGENT_CLI_OWNER``, else the only account) on the database the server uses
(``DATABASE_URL`` or SQLite under ``SNAPAGENT_DATA_DIR``), so what it creates is that account's
in the console and its bots. A knowledge base is named by id or by name.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from snapagent.cli.acting import AsOption, run_as
from snapagent.cli.tables import wide_console
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.errors import SnapAgentError
from snapagent.knowledge.records import EmbeddingResolver
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.services.knowledge import (
    DocumentInfo,
    KnowledgeService,
    default_embedding_resolver,
)
from snapagent.workflow.services import RetrievalMode

__all__ = ["register"]

kb_app = typer.Typer(help="Knowledge bases: create, add documents, query.", no_args_is_help=True)
T = TypeVar("T")


def embedding_resolver() -> EmbeddingResolver:
    """Where the CLI gets embedding models (tests replace this)."""
    return default_embedding_resolver()


def _run(as_user: str | None, action: Callable[[KnowledgeService, str], Awaitable[T]]) -> T:
    """As the acting account (its id is ``action``'s owner), with a knowledge service on the
    server's database; errors become messages and exit code 1."""

    async def with_service(db: Database, user: User) -> T:
        # No parse at upload time: `kb add` ingests right after and reports every file that
        # failed, and checking first would parse each file twice before ingestion started.
        settings = KnowledgeSettings().model_copy(update={"upload_check_timeout_s": 0})
        service = KnowledgeService(db, embeddings=embedding_resolver(), settings=settings)
        try:
            return await action(service, user.id)
        finally:
            await service.close()

    return run_as(as_user, with_service)


@kb_app.command("create")
def create(
    name: str = typer.Argument(..., help="Name, unique among your knowledge bases."),
    description: str = typer.Option("", "--description", "-d", metavar="TEXT"),
    embedding_model: str | None = typer.Option(
        None,
        "--embedding-model",
        metavar="SPEC",
        help="local:multilingual-e5-small | local | openai:<model> | bedrock:<model-id> "
        "(default: SNAPAGENT_KNOWLEDGE_DEFAULT_EMBEDDING_MODEL, local:multilingual-e5-small).",
    ),
    chunk_tokens: int | None = typer.Option(None, "--chunk-tokens", min=16, max=8192, metavar="N"),
    overlap_tokens: int | None = typer.Option(
        None, "--overlap-tokens", min=0, max=1024, metavar="N"
    ),
    as_user: AsOption = None,
) -> None:
    """Create a knowledge base."""

    async def action(service: KnowledgeService, owner: str) -> str:
        kb = await service.create_knowledge_base(
            owner,
            name,
            description=description,
            embedding_model=embedding_model,
            chunk_max_tokens=chunk_tokens,
            chunk_overlap_tokens=overlap_tokens,
        )
        return kb.id

    kb_id = _run(as_user, action)
    typer.echo(f"created knowledge base {name!r} ({kb_id})")


@kb_app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."), as_user: AsOption = None
) -> None:
    """List your knowledge bases."""

    async def action(service: KnowledgeService, owner: str) -> list[dict[str, Any]]:
        return [kb.to_dict() for kb in await service.list_knowledge_bases(owner)]

    rows = _run(as_user, action)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    if not rows:
        typer.echo("no knowledge bases yet: snapagent kb create NAME")
        return
    table = Table("id", "name", "documents", "embedding model", "description")
    for row in rows:
        table.add_row(
            row["id"], row["name"], str(row["document_count"]), row["embedding_model"],
            row["description"],
        )  # fmt: skip
    wide_console().print(table)


@kb_app.command("add")
def add(
    kb: Annotated[str, typer.Argument(help="Knowledge base id or name.")],
    files: Annotated[list[Path], typer.Argument(help="Text, Markdown, HTML, PDF or DOCX files.")],
    as_user: AsOption = None,
) -> None:
    """Add documents and wait until they are indexed; exits 1 if any file failed."""

    async def action(service: KnowledgeService, owner: str) -> tuple[list[str], int]:
        kb_id = (await service.get_knowledge_base(owner, kb)).id
        problems: list[str] = []
        queued: list[DocumentInfo] = []
        for path in files:
            try:
                if path.stat().st_size > service.settings.max_upload_bytes:
                    limit = service.settings.max_upload_bytes
                    problems.append(f"{path}: larger than the upload limit ({limit} bytes)")
                    continue  # never read a huge file into memory just to refuse it
                data = path.read_bytes()
            except OSError as exc:
                problems.append(f"{path}: cannot read ({exc.strerror or exc})")
                continue
            try:
                queued.append(await service.add_document(owner, kb_id, path.name, data))
            except SnapAgentError as exc:
                problems.append(f"{path}: {exc.message}")
        service.start()
        final = await _follow(service, owner, kb_id, queued)
        problems += [f"{d.filename}: {d.error}" for d in final if d.status == "failed"]
        indexed = sum(1 for d in final if d.status == "indexed")
        return problems, indexed

    problems, indexed = _run(as_user, action)
    typer.echo(f"{indexed} document(s) indexed")
    for problem in problems:
        typer.echo(f"failed: {problem}", err=True)
    if problems:
        raise typer.Exit(code=1)


async def _follow(
    service: KnowledgeService, owner: str, kb_id: str, docs: list[DocumentInfo]
) -> list[DocumentInfo]:
    """Show one progress bar per document until every one is indexed or failed."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=not console.is_terminal,
    ) as progress:
        tasks: dict[str, TaskID] = {
            d.id: progress.add_task(d.filename, total=None, status=d.status) for d in docs
        }
        pending = set(tasks)
        states = {d.id: d for d in docs}
        while pending:
            for doc_id in list(pending):
                state = await service.get_document(owner, kb_id, doc_id)
                states[doc_id] = state
                progress.update(
                    tasks[doc_id],
                    total=state.chunks_total or None,
                    completed=state.chunks_done,
                    status=state.status,
                )
                if state.status in ("indexed", "failed"):
                    pending.discard(doc_id)
            if pending:
                await asyncio.sleep(0.2)
    return [states[d.id] for d in docs]


@kb_app.command("reembed")
def reembed(
    kbs: Annotated[list[str], typer.Argument(help="Knowledge base ids or names.")],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="SPEC",
            help="Embedding spec to move to (default: the default for new knowledge bases, "
            "local:multilingual-e5-small).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Re-embed even if it already uses that model.")
    ] = False,
    as_user: AsOption = None,
) -> None:
    """Embed every chunk again with another embedding model, then switch to it at once.

    The knowledge base keeps answering with its old model until the switch; nothing changes if
    this is interrupted.
    """

    async def action(service: KnowledgeService, owner: str) -> list[str]:
        spec = (model or service.settings.default_embedding_model).strip()
        targets = [await service.get_knowledge_base(owner, ref) for ref in kbs]
        lines = []
        console = Console(stderr=True)
        for kb in targets:
            if kb.embedding_model == spec and not force:
                lines.append(f"{kb.name}: already uses {spec} (--force re-embeds anyway)")
                continue
            with Progress(
                TextColumn(f"{kb.name}: {kb.embedding_model} -> {spec}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("chunks"),
                console=console,
                transient=not console.is_terminal,
            ) as bar:
                task = bar.add_task("reembed", total=None)

                def show(done: int, total: int, task: TaskID = task, bar: Progress = bar) -> None:
                    bar.update(task, completed=done, total=total)

                result = await service.reembed(owner, kb.id, spec, progress=show)
            lines.append(
                f"{kb.name}: {result.chunks} chunk(s) re-embedded with {result.model} "
                f"({result.dimension} dimensions), was {result.previous_model}"
            )
        return lines

    for line in _run(as_user, action):
        typer.echo(line)


@kb_app.command("query")
def query(
    kb: str = typer.Argument(..., help="Knowledge base id or name."),
    question: str = typer.Argument(...),
    top_k: int = typer.Option(4, "--top-k", "-k", min=1, max=100, metavar="N"),
    mode: str = typer.Option("hybrid", "--mode", metavar="MODE", help="hybrid | vector | keyword"),
    score_threshold: float | None = typer.Option(None, "--score-threshold", metavar="SCORE"),
    as_json: bool = typer.Option(False, "--json", help="Print full results (text included)."),
    as_user: AsOption = None,
) -> None:
    """Retrieve the chunks most relevant to QUESTION."""
    if mode not in ("hybrid", "vector", "keyword"):
        typer.echo("error: --mode must be hybrid, vector or keyword", err=True)
        raise typer.Exit(code=2)

    async def action(service: KnowledgeService, owner: str) -> list[dict[str, Any]]:
        kb_id = (await service.get_knowledge_base(owner, kb)).id
        hits = await service.query(
            owner,
            [kb_id],
            question,
            top_k=top_k,
            mode=_mode(mode),
            score_threshold=score_threshold,
        )
        return [hit.to_dict() for hit in hits]

    results = _run(as_user, action)
    if as_json:
        typer.echo(json.dumps(results, ensure_ascii=False, indent=2))
        return
    if not results:
        typer.echo("no results")
    for rank, hit in enumerate(results, start=1):
        where = f" > {hit['heading']}" if hit["heading"] else ""
        snippet = " ".join(hit["text"].split())
        snippet = snippet if len(snippet) <= 300 else snippet[:297] + "..."
        typer.echo(f"{rank}. [{hit['score']:.3f}] {hit['document_title']}{where} "
                   f"(chunk {hit['chunk_index']})")  # fmt: skip
        typer.echo(f"   {snippet}")


def _mode(value: str) -> RetrievalMode:
    if value == "vector":
        return "vector"
    if value == "keyword":
        return "keyword"
    return "hybrid"


def register(app: typer.Typer) -> None:
    app.add_typer(kb_app, name="kb")
