"""How the CLI prints its tables.

Listings carry ids a user copies into the next command. Rich wraps or truncates cells to the
terminal's width (80 columns when output is piped), which would cut those ids, so tables are
printed on a console at least ``TABLE_WIDTH`` columns wide.

    wide_console().print(table)
"""

from __future__ import annotations

from rich.console import Console

__all__ = ["TABLE_WIDTH", "wide_console"]

TABLE_WIDTH = 200


def wide_console() -> Console:
    """A stdout console wide enough that no id in a table is wrapped or cut."""
    return Console(highlight=False, width=max(Console().width, TABLE_WIDTH))
