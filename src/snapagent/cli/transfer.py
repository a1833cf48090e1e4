"""`snapagent import` / `snapagent export`: bots as files (Dify DSL, SnapAgent YAML).

    snapagent import app.yml other.yml --model-override offline   # a line per file + its report
    snapagent import app.yml --dry-run --json                       # what would happen, as JSON
    snapagent export BOT_ID --format dify > app.dify.yml
    snapagent import app.yml --as ada@example.com

Like ``snapagent bots`` and ``snapagent kb``, both act as one account (`snapagent.cli.acting`:
``--as EMAIL``, else ``SNAPAGENT_CLI_OWNER``, else the only account) on the server's database,
through the same `BotTransferService` as ``POST /api/v1/bots/import``.
Exit code 1 when any file could not be imported (each failure is printed with its reason).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from snapagent.cli import kb
from snapagent.cli.acting import AsOption, run_as
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.errors import SnapAgentError
from snapagent.interop.converter import DocumentConverter
from snapagent.interop.settings import get_import_settings
from snapagent.llm.lazy import DeferredChatModelRegistry
from snapagent.nodes import default_registry
from snapagent.services.bot_transfer import BotTransferService
from snapagent.services.graph_resources import GraphResources
from snapagent.services.knowledge import KnowledgeService

__all__ = ["register"]

T = TypeVar("T")


def _with_service(
    as_user: str | None, action: Callable[[BotTransferService, User], Awaitable[T]]
) -> T:
    async def run(db: Database, owner: User) -> T:
        knowledge = KnowledgeService(db, embeddings=kb.embedding_resolver())
        converter = DocumentConverter.create(get_import_settings())
        try:
            async with db.session() as session:
                service = BotTransferService(
                    session,
                    default_registry(),
                    GraphResources(DeferredChatModelRegistry()),
                    knowledge,
                    converter,
                )
                return await action(service, owner)
        finally:
            await converter.close()
            await knowledge.close()

    return run_as(as_user, run)


def _lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for item in report.get("items", []):
        where = item.get("node_id") or item.get("field") or ""
        where = f"[{where}] " if where else ""
        lines.append(f"    {item['severity']}: {where}{item['message']} -> {item['action']}")
    for problem in report.get("problems", []):
        lines.append(f"    problem: [{problem.get('path') or ''}] {problem.get('message')}")
    return lines


def _summary(report: dict[str, Any]) -> str:
    counts = report.get("counts", {})
    parts = [f"{n} {name}" for name, n in counts.items() if n]
    problems = len(report.get("problems", []))
    if problems:
        parts.append(f"{problems} validation problem(s)")
    return ", ".join(parts) or "everything carried over exactly"


def import_(
    files: Annotated[
        list[Path], typer.Argument(help="Dify DSL or SnapAgent exports (YAML or JSON).")
    ],
    model_override: str | None = typer.Option(
        None, "--model-override", metavar="ID", help="A model id replacing every model."
    ),
    file_format: str = typer.Option(
        "auto", "--format", metavar="FORMAT", help="auto | dify | snapagent."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Convert and report; create nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON array of outcomes."),
    as_user: AsOption = None,
) -> None:
    """Import bots from files: a line per file with its outcome and report."""
    if file_format not in ("auto", "dify", "snapagent"):
        typer.echo("error: --format must be auto, dify or snapagent", err=True)
        raise typer.Exit(code=2)
    wanted: Literal["auto", "dify", "snapagent"] = file_format  # type: ignore[assignment]

    async def action(service: BotTransferService, owner: User) -> list[dict[str, Any]]:
        outcomes = []
        for path in files:
            outcome: dict[str, Any] = {"file": str(path)}
            try:
                data = path.read_bytes()
                if dry_run:
                    preview = await service.preview_import(
                        owner, data, format=wanted, model_override=model_override
                    )
                    outcome.update(status="checked", name=preview.name, report=preview.report)
                else:
                    result = await service.import_bot(
                        owner, data, format=wanted, model_override=model_override
                    )
                    outcome.update(
                        status="imported",
                        bot_id=result.bot_id,
                        version_id=result.version_id,
                        report=result.report,
                    )
            except OSError as exc:
                outcome.update(status="failed", error=f"cannot read the file: {exc.strerror}")
            except SnapAgentError as exc:
                await service.session.rollback()
                outcome.update(status="failed", error=exc.message)
            outcomes.append(outcome)
        return outcomes

    outcomes = _with_service(as_user, action)
    if as_json:
        typer.echo(json.dumps(outcomes, ensure_ascii=False, indent=2))
    else:
        for outcome in outcomes:
            if outcome["status"] == "failed":
                typer.echo(f"FAILED {outcome['file']}: {outcome['error']}")
                continue
            report = outcome["report"]
            if outcome["status"] == "imported":
                head = f"imported {outcome['file']} -> bot {outcome['bot_id']}"
            else:
                head = f"checked {outcome['file']} (dry run, nothing created)"
            typer.echo(f"{head}: {_summary(report)}")
            for line in _lines(report):
                typer.echo(line)
    if any(o["status"] == "failed" for o in outcomes):
        raise typer.Exit(code=1)


def export(
    bot_id: str = typer.Argument(..., help="The bot to export."),
    file_format: str = typer.Option(
        "snapagent", "--format", metavar="FORMAT", help="snapagent (lossless) | dify."
    ),
    version_id: str | None = typer.Option(
        None, "--version-id", metavar="ID", help="A version (default: the draft, else live)."
    ),
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to FILE (default: standard output)."
        ),
    ] = None,
    as_user: AsOption = None,
) -> None:
    """Export a bot as YAML (what does not carry over to Dify is listed on stderr)."""
    if file_format not in ("snapagent", "dify"):
        typer.echo("error: --format must be snapagent or dify", err=True)
        raise typer.Exit(code=2)

    async def action(service: BotTransferService, owner: User) -> Any:
        return await service.export_bot(owner, bot_id, format=file_format, version_id=version_id)

    export_ = _with_service(as_user, action)
    if output is None:
        sys.stdout.write(export_.text)
    else:
        output.write_text(export_.text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
    if export_.report:
        for line in _lines(export_.report):
            typer.echo(line.strip(), err=True)


def register(app: typer.Typer) -> None:
    app.command("import")(import_)
    app.command("export")(export)
