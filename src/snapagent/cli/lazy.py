"""Commands whose module loads when they run or show their help, not when the CLI starts.

Importing every command module costs about a second of CPU (SQLAlchemy, the node registry,
pydantic models, rich), which `snapagent --help` and a light command such as `snapagent config
check` used to pay for modules they never touch. The top-level group knows each command by its
name, the module whose ``register(app)`` adds it, and its summary (the first paragraph of its
help: what `snapagent --help` lists). A `DeferredCommand` stands in for it: listing and
completing names read the summary; running the command or asking for its help - both start with
click's ``make_context`` - import the module and hand over to the real command, so options, help
texts and exit codes are the real command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import typer
from typer import _click as click  # typer's own copy of click, whose classes its groups use
from typer.core import MarkupMode, TyperCommand, TyperGroup


@dataclass(frozen=True)
class CommandEntry:
    """A top-level command, known without importing its module."""

    name: str
    module: str  # its `register(app: typer.Typer)` adds the command (a group or a function)
    summary: str  # the first paragraph of its help; tests/cli/test_lazy_cli.py keeps it in step


@cache
def module_commands(module_name: str, markup: MarkupMode) -> dict[str, click.Command]:
    """The click commands ``module_name``'s ``register`` adds (one module may add several)."""
    module = importlib.import_module(module_name)
    holder = typer.Typer(rich_markup_mode=markup, add_completion=False)
    module.register(holder)
    return dict(typer.main.get_group(holder).commands)


class DeferredCommand(TyperCommand):
    """Lists as its entry's name and summary; becomes the real command when click uses it."""

    def __init__(self, entry: CommandEntry, markup: MarkupMode) -> None:
        super().__init__(
            entry.name, help=entry.summary, add_help_option=False, rich_markup_mode=markup
        )
        self.entry = entry

    def load(self) -> click.Command:
        """The real command (its module is imported once per process)."""
        return module_commands(self.entry.module, self.rich_markup_mode)[self.entry.name]

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        return self.load().make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """A typer group whose commands are `entries`, each deferred until it is used.

    Subclass it with ``entries`` set and pass the subclass as ``typer.Typer(cls=...)``; the
    order of ``entries`` is the order `--help` lists them in.
    """

    entries: ClassVar[Sequence[CommandEntry]] = ()

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for entry in self.entries:
            self.commands[entry.name] = DeferredCommand(entry, self.rich_markup_mode)
