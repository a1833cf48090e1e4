"""The `snapagent` command. Each command group lives in its own module and registers itself."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="snapagent",
    help="SnapAgent: a self-hostable backend for RAG chatbots with port-based workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich panels print "<bool>" beside every flag, so `--dry-run` reads
    # as if it took a value. Options that take one name it (`--limit N`).
    rich_markup_mode=None,
)

# Command groups (one module each). Keep this list sorted.
from snapagent.cli.bots import register as _register_bots  # noqa: E402
from snapagent.cli.chat import register as _register_chat  # noqa: E402
from snapagent.cli.config import register as _register_config  # noqa: E402
from snapagent.cli.db import register as _register_db  # noqa: E402
from snapagent.cli.demo import register as _register_demo  # noqa: E402
from snapagent.cli.executions import register as _register_executions  # noqa: E402
from snapagent.cli.kb import register as _register_kb  # noqa: E402
from snapagent.cli.migrate import register as _register_migrate  # noqa: E402
from snapagent.cli.runs import register as _register_runs  # noqa: E402
from snapagent.cli.serve import register as _register_serve  # noqa: E402
from snapagent.cli.transfer import register as _register_transfer  # noqa: E402
from snapagent.cli.users import register as _register_users  # noqa: E402
from snapagent.cli.workflow import register as _register_workflow  # noqa: E402

_register_bots(app)
_register_chat(app)
_register_config(app)
_register_db(app)
_register_demo(app)
_register_executions(app)
_register_kb(app)
_register_migrate(app)
_register_runs(app)
_register_serve(app)
_register_transfer(app)
_register_users(app)
_register_workflow(app)


def main() -> None:
    app()
