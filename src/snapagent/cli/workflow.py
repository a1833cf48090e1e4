"""`snapagent run-workflow GRAPH.json --input query="..."`: validate and run a V2 graph offline.

    snapagent run-workflow examples/rag_pipeline.json --input query="What is SnapAgent?" \
        --doc README.md --events

Every model id is answered by the offline model from `snapagent.llm` (or, when that package
is unavailable, by a scripted echo model); ``--doc FILE`` (text, Markdown, HTML, PDF, DOCX,
parsed like an upload) loads its paragraphs into an in-memory knowledge base for every
knowledge base the graph names (knowledge nodes, agents' knowledge tools). Exit codes: 0
succeeded, 1 the run failed or was cancelled, 2 the graph, a file or an argument is invalid.

A run stands for a chat turn: its ``sys`` values are a chat turn's, built by `system_inputs`
like the API's (``bot_id``, ``user_id`` and ``owner_id`` are ``cli`` and ``default_model`` is
null unless ``--sys NAME=VALUE`` says otherwise; ``run_id`` is new; ``files`` are the
``--file`` attachments), so a graph reading them behaves as it does in a chat.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from snapagent.cli.tables import wide_console
from snapagent.errors import GraphValidationError, InputValidationError, SnapAgentError
from snapagent.knowledge.file_reader import IsolatedDocumentReader
from snapagent.nodes import default_registry
from snapagent.nodes.settings import get_node_settings
from snapagent.services.system_values import RunKind, system_inputs, with_owner
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import (
    RunFinished,
    ServiceContainer,
    WorkflowExecutorV2,
    WorkflowGraph,
    WorkflowRunResult,
)
from snapagent.workflow.executor import new_run_id
from snapagent.workflow.node import BaseNodeV2
from snapagent.workflow.services import ChatModel, ChatModelProvider
from snapagent.workflow.system_names import BOT_ID, DEFAULT_MODEL, OWNER_ID, USER_ID

__all__ = ["cli_system_values", "offline_chat_models", "register"]

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)


class _EveryIdProvider:
    """Answers every model id with one model (the CLI runs offline, with no keys)."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model

    def resolve(self, model_id: str | None) -> ChatModel:
        return self.model


def offline_chat_models() -> ChatModelProvider:
    """The real offline model if `snapagent.llm` provides it, else a scripted echo model."""
    try:
        from snapagent.llm.offline import OfflineChatModel
    except ImportError:  # the provider package is optional for the engine
        return ScriptedChatModels(ScriptedChatModel("echo", default_reply="(no model available)"))
    return _EveryIdProvider(OfflineChatModel())


def _fail(message: str) -> typer.Exit:
    _err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(2)


def _load_graph(path: Path) -> WorkflowGraph:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise _fail(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    try:
        return WorkflowGraph.from_json(data)
    except ValidationError as exc:
        lines = [f"{path}: not a workflow graph:"]
        for err in exc.errors():
            lines.append(f"  {'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}")
        raise _fail("\n".join(lines)) from None


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value starting with ``[`` or ``{`` is read as JSON."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputValidationError(f"--input {pair!r} must look like key=value", field="input")
        parsed: Any = value
        if value[:1] in ("[", "{"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InputValidationError(
                    f"--input {key}: value is not valid JSON ({exc.msg})", field=key
                ) from None
        inputs[key.strip()] = parsed
    return inputs


_CLI = "cli"
_SETTABLE = (BOT_ID, DEFAULT_MODEL, OWNER_ID, USER_ID)
"""The ``sys`` values ``--sys`` may set; ``run_id`` is generated and ``files`` come from
``--file``, as in a chat turn."""


def cli_system_values(pairs: list[str], files: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``sys`` of a CLI run: a chat turn's (`RunKind.CHAT`), ``--sys NAME=VALUE`` pairs
    replacing the defaults; a name a chat turn does not let the caller set is refused."""
    given: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name.strip() not in _SETTABLE:
            raise InputValidationError(
                f"--sys {pair!r} must be NAME=VALUE, NAME one of {', '.join(_SETTABLE)} "
                "(a CLI run is a chat turn: run_id is generated, files come from --file)",
                field="sys",
            )
        given[name.strip()] = value
    sys = system_inputs(
        RunKind.CHAT,
        bot_id=given.get(BOT_ID, _CLI),
        run_id=new_run_id(),
        user_id=given.get(USER_ID, _CLI),
        default_model=given.get(DEFAULT_MODEL) or None,
        files=files,
    )
    return with_owner(sys, given.get(OWNER_ID, _CLI))


def _knowledge_base_ids(graph: WorkflowGraph) -> list[str]:
    """Every knowledge base a node names (a knowledge node's, an agent's knowledge tools'...)."""
    registry = default_registry()
    return sorted(
        {
            str(ref.value)
            for node in graph.nodes
            for ref in (registry.get(node.type) or BaseNodeV2).resources(node.config)
            if ref.kind == "knowledge_base" and ref.value
        }
    )


async def _load_docs(
    retriever: InMemoryRetriever,
    kb_ids: list[str],
    docs: list[Path],
    reader: IsolatedDocumentReader,
) -> None:
    """Each ``--doc`` parsed like an upload (text, Markdown, HTML, PDF, DOCX; in a worker
    process), its paragraphs added to every knowledge base the graph reads."""
    for path in docs:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _fail(f"--doc {path}: cannot read ({exc.strerror or exc})") from None
        try:
            found = await reader.read(data, path.name, mimetypes.guess_type(path.name)[0])
        except SnapAgentError as exc:  # unsupported type, corrupt or empty file, over a limit
            raise _fail(f"--doc {path}: {exc.message}") from None
        for number, part in enumerate(p.strip() for p in found.text.split("\n\n")):
            for kb in kb_ids:
                if part:
                    retriever.add(kb, part, title=path.name, document_id=f"{path.name}#{number}")


def _print_problems(error: GraphValidationError) -> None:
    _err.print(f"[red]error:[/red] the graph is invalid ({len(error.problems)} problem(s)):")
    for problem in error.problems:
        where = problem.path or problem.node_id or "graph"
        _err.print(f"  {where}: {problem.message} ({problem.code})", markup=False)


def _print_result(result: WorkflowRunResult) -> None:
    table = Table(
        title=f"run {result.run_id}: {result.status.value} in {result.elapsed_s * 1000:.2f} ms"
    )
    for column in ("#", "node", "type", "status", "ms", "retries", "tokens"):
        table.add_column(
            column, justify="right" if column in ("#", "ms", "retries", "tokens") else "left"
        )
    for node in result.flattened_nodes():
        # A node inside an iteration/loop body shows where: "  summarise [each 2]".
        where = " ".join(f"{container} {index}" for container, index in node.scope)
        name = f"{'  ' * len(node.scope)}{node.node_id}" + (f" ({where})" if where else "")
        table.add_row(
            str(node.index) if node.index >= 0 else "-",
            name,
            node.node_type,
            node.status.value,
            f"{node.elapsed_s * 1000:.3f}",
            str(node.retries),
            str(node.usage.total_tokens),
        )
    # Never narrower than 160 columns (like the other CLI tables): a piped or captured run
    # keeps one row per node.
    wide_console().print(table)
    _out.print("outputs:")
    _out.print(json.dumps(result.outputs, ensure_ascii=False, indent=2), markup=False)
    if result.error is not None:
        where = f" (node {result.error.node_id})" if result.error.node_id else ""
        message = escape(result.error.message)
        _err.print(f"[red]run {result.status.value}{escape(where)}:[/red] {message}")


async def _execute(
    executor: WorkflowExecutorV2,
    graph: WorkflowGraph,
    inputs: dict[str, Any],
    events: bool,
    sys: dict[str, Any],
    reader: IsolatedDocumentReader,
    retriever: InMemoryRetriever,
    docs: list[Path],
) -> WorkflowRunResult:
    try:
        await _load_docs(retriever, _knowledge_base_ids(graph), docs, reader)
        return await _run(executor, graph, inputs, events, sys)
    finally:
        await reader.close()


async def _run(
    executor: WorkflowExecutorV2,
    graph: WorkflowGraph,
    inputs: dict[str, Any],
    events: bool,
    sys: dict[str, Any],
) -> WorkflowRunResult:
    if not events:
        return await executor.run(graph, inputs, sys)
    result: WorkflowRunResult | None = None
    async for event in executor.stream(graph, inputs, sys):
        data = event.to_dict()
        if isinstance(event, RunFinished):
            result = event.result
            data["result"] = {"status": event.result.status.value, "run_id": event.result.run_id}
        _out.print(json.dumps(data, ensure_ascii=False, default=str), markup=False)
    assert result is not None  # stream() always ends with RunFinished
    return result


def run_workflow(
    graph_path: Annotated[
        Path, typer.Argument(metavar="GRAPH.json", help="A V2 workflow graph (JSON).")
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            metavar="KEY=VALUE",
            help='Run input as key=value (repeatable): query="Hi".',
        ),
    ] = None,
    docs: Annotated[
        list[Path] | None,
        typer.Option(
            "--doc",
            metavar="FILE",
            help="A document (text, Markdown, HTML, PDF, DOCX) loaded into every knowledge "
            "base the graph reads (repeatable).",
        ),
    ] = None,
    events: Annotated[
        bool, typer.Option("--events", help="Print every event as a JSON line.")
    ] = False,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="A file attached to the run (repeatable), read as sys.files.",
        ),
    ] = None,
    sys_values: Annotated[
        list[str] | None,
        typer.Option(
            "--sys",
            metavar="NAME=VALUE",
            help="A sys value of the run (repeatable): bot_id, user_id, owner_id (default "
            "cli) or default_model (default none).",
        ),
    ] = None,
) -> None:
    """Validate GRAPH.json (printing every problem) and run it with offline services."""
    graph = _load_graph(graph_path)
    try:
        run_inputs = parse_inputs(inputs or [])
        attached = [_attachment(path) for path in files or []]
        sys = cli_system_values(sys_values or [], attached)
    except InputValidationError as exc:
        raise _fail(exc.message) from None
    node_settings = get_node_settings()
    # Files are read out of process; the workers start only if a node reads one.
    reader = IsolatedDocumentReader.create(
        max_chars=node_settings.document_max_chars, timeout_s=node_settings.document_timeout_s
    )
    retriever = InMemoryRetriever()  # filled from --doc once the run's event loop starts
    services = ServiceContainer(
        chat_models=offline_chat_models(), retriever=retriever, documents=reader
    )
    executor = WorkflowExecutorV2(default_registry(), services)
    try:
        executor.compile(graph)
    except GraphValidationError as exc:
        _print_problems(exc)
        raise typer.Exit(2) from None
    result = asyncio.run(
        _execute(executor, graph, run_inputs, events, sys, reader, retriever, docs or [])
    )
    _print_result(result)
    if not result.succeeded:
        raise typer.Exit(1)


def _attachment(path: Path) -> dict[str, Any]:
    """A file as the chat API attaches it: name, content type, base64 data."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"--file {path}: {exc.strerror or exc}") from None
    content_type = mimetypes.guess_type(path.name)[0]
    encoded = base64.b64encode(data).decode("ascii")
    return {"name": path.name, "content_type": content_type, "data": encoded}


def register(app: typer.Typer) -> None:
    app.command("run-workflow")(run_workflow)
