"""Every command's help reads as the command line does: a flag is bare (`--dry-run`), an option
that takes a value names it (`--limit N`), never a type such as `<bool>` or `<int range>`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.cli.lazy import DeferredCommand

runner = CliRunner()


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(command, DeferredCommand):  # the real command, with its options
        command = command.load()
    yield path, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_the_walk_finds_the_cli() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"serve", "migrate-workflows", "executions prune", "kb add", "config check"} <= names


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "snapagent" for path, _ in COMMANDS]
)
def test_help_shows_flags_as_flags(path: tuple[str, ...], command: Any) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    options = result.output.split("Options:", 1)[1]
    # No "<type>" beside an option (help texts may show ranges and placeholders).
    assert not re.search(r"^\s+(-\w, )?--[\w-]+ <", options, re.M), result.output
    lines = options.splitlines()
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option":
            continue
        name = max(param.opts, key=len)
        line = next(ln for ln in lines if re.search(rf"(^|[ ,]){re.escape(name)}\b", ln))
        after = line.split(name, 1)[1]
        if param.is_flag:
            # Nothing between the flag and its help but spaces (or its --no- twin).
            assert re.match(r"^( / --no-[\w-]+)?(\s{2,}|$)", after), line
        else:
            assert re.match(r"^ [A-Z][A-Z_=.]*(\s{2,}|$)", after), line


def test_a_flag_given_a_value_is_an_error_naming_it() -> None:
    result = runner.invoke(app, ["executions", "prune", "--dry-run", "true"])
    assert result.exit_code == 2
    assert "true" in result.output
