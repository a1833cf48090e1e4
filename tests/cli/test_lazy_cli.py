"""`snapagent --help` imports no command module; a command imports its own module when used.

The start-up checks run in a fresh interpreter (this one has long imported every command). The
help lists every command with its summary, and the summaries kept in `snapagent.cli.COMMANDS`
(so that listing needs no import) are the commands' own: the first paragraph of their help.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import COMMANDS, app
from snapagent.cli.lazy import DeferredCommand, module_commands

# Run `snapagent ARGV...` and then report which modules the process holds.
_RUN = """
import json, sys
from snapagent.cli import main
sys.argv = ["snapagent", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as stop:
    code = stop.code
print("\\n@@", json.dumps({"exit": code, "modules": sorted(sys.modules)}))
"""


def _run(tmp_path: Path, *argv: str) -> tuple[str, int, list[str]]:
    """The output, exit code and imported modules of `snapagent *argv` in a fresh interpreter."""
    env = {**os.environ, "SNAPAGENT_DATA_DIR": str(tmp_path), "COLUMNS": "80"}
    completed = subprocess.run(
        [sys.executable, "-c", _RUN, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output, report = completed.stdout.rsplit("\n@@ ", 1)
    loaded = json.loads(report)
    return output, loaded["exit"], loaded["modules"]


def _cli_modules(modules: list[str]) -> set[str]:
    return {m for m in modules if m.startswith("snapagent.cli.")}


def test_help_imports_no_command_module_and_lists_every_command(tmp_path: Path) -> None:
    output, code, modules = _run(tmp_path, "--help")

    assert code == 0
    assert _cli_modules(modules) == {"snapagent.cli.lazy"}
    assert not {"sqlalchemy", "pydantic", "rich"} & set(modules)
    rows = [line.split(None, 1) for line in output.split("Commands:\n", 1)[1].splitlines()]
    assert [name for name, _ in rows] == [entry.name for entry in COMMANDS]
    for (name, shown), entry in zip(rows, COMMANDS, strict=True):
        # click shortens a summary too long for the line to whole words and "..."
        assert shown == entry.summary or (
            shown.endswith("...") and entry.summary.startswith(shown.removesuffix("..."))
        ), name


@pytest.mark.parametrize(
    ("argv", "module"),
    [(("db", "--help"), "snapagent.cli.db"), (("config", "check"), "snapagent.cli.config")],
)
def test_a_command_imports_its_own_module_only(
    tmp_path: Path, argv: tuple[str, ...], module: str
) -> None:
    output, code, modules = _run(tmp_path, *argv)

    assert code == 0, output
    assert _cli_modules(modules) == {"snapagent.cli.lazy", module}


def test_each_summary_is_the_first_paragraph_of_its_commands_help() -> None:
    for entry in COMMANDS:
        command = DeferredCommand(entry, None).load()
        first_paragraph = inspect.cleandoc(command.help or "").split("\n\n", 1)[0]
        assert " ".join(first_paragraph.split()) == entry.summary, entry.name


def test_every_command_a_module_registers_is_listed() -> None:
    names = {entry.name for entry in COMMANDS}
    for module in {entry.module for entry in COMMANDS}:
        assert set(module_commands(module, None)) <= names, module


def test_an_unknown_command_is_a_usage_error_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["server"])

    assert result.exit_code == 2
    assert "No such command 'server'. Did you mean 'serve'?" in result.output
