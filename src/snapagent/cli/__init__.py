"""The `snapagent` command. Each command lives in its own module, imported when it is used.

`snapagent --help` lists the commands below by name and summary without importing them (see
`snapagent.cli.lazy`); a command's module loads when it runs or shows its help.
"""

from __future__ import annotations

import typer

from snapagent.cli.lazy import CommandEntry, LazyGroup

# In the order `snapagent --help` lists them: the single commands, then the command groups.
# A summary is the first paragraph of the command's help (tests/cli/test_lazy_cli.py checks it).
COMMANDS = (
    CommandEntry(
        "chat",
        "snapagent.cli.chat",
        "Chat with a bot's live version; the answer streams to standard output.",
    ),
    CommandEntry(
        "demo",
        "snapagent.cli.demo",
        "Seed a demo user, API key, knowledge base and published bot; then serve.",
    ),
    CommandEntry(
        "migrate-workflows",
        "snapagent.cli.migrate",
        "Convert legacy (V1) workflows into V2 drafts (use_workflow_v2 is left off).",
    ),
    CommandEntry("serve", "snapagent.cli.serve", "Serve the HTTP API (OpenAPI docs at /docs)."),
    CommandEntry(
        "import",
        "snapagent.cli.transfer",
        "Import bots from files: a line per file with its outcome and report.",
    ),
    CommandEntry(
        "export",
        "snapagent.cli.transfer",
        "Export a bot as YAML (what does not carry over to Dify is listed on stderr).",
    ),
    CommandEntry(
        "run-workflow",
        "snapagent.cli.workflow",
        "Validate GRAPH.json (printing every problem) and run it with offline services.",
    ),
    CommandEntry(
        "bots", "snapagent.cli.bots", "Bots and their versions: list, show, publish, roll back."
    ),
    CommandEntry("config", "snapagent.cli.config", "Inspect the configuration."),
    CommandEntry("db", "snapagent.cli.db", "Database schema migrations."),
    CommandEntry("executions", "snapagent.cli.executions", "Workflow execution records."),
    CommandEntry("kb", "snapagent.cli.kb", "Knowledge bases: create, add documents, query."),
    CommandEntry(
        "runs", "snapagent.cli.runs", "Workflow runs: list a bot's, show one node by node."
    ),
    CommandEntry(
        "users",
        "snapagent.cli.users",
        "User accounts: create, list, set a password, log out everywhere.",
    ),
)


class _SnapAgentCommands(LazyGroup):
    entries = COMMANDS


app = typer.Typer(
    name="snapagent",
    help="SnapAgent: a self-hostable backend for RAG chatbots with port-based workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich panels print "<bool>" beside every flag, so `--dry-run` reads
    # as if it took a value. Options that take one name it (`--limit N`).
    rich_markup_mode=None,
    cls=_SnapAgentCommands,
)


@app.callback()
def _no_options() -> None:
    # typer builds a group only for an app with a callback or registered commands; the
    # commands are the group's own (deferred), so an empty callback stands for "a group".
    pass


def main() -> None:
    app()
