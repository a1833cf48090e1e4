"""Reading a template's variables evaluates none of it; syntax problems are definition errors."""

from __future__ import annotations

import tracemalloc

import pytest

from snapagent.errors import DefinitionError
from snapagent.jinja import parse, variables


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x'|center(300000000) }}{{ y }}",
        "{{ '%300000000s'|format('x') }}{{ y }}",
        "{{ ['x' * 9, 'y']|join('z' * 1) }}{{ 'x'|indent(300000000) }}{{ y }}",
        "{{ ('x'|string) * 300000000 }}{{ y }}",
    ],
)
def test_reading_variables_builds_nothing(source: str) -> None:
    tracemalloc.start()
    try:
        assert variables(source) == ("y",)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"reading the variables allocated {peak} bytes"


def test_variables_are_the_undeclared_names_sorted() -> None:
    source = "{% set local = 1 %}{% for d in docs %}{{ d.text }}{{ local }}{% endfor %}{{ q }}"
    assert variables(source) == ("docs", "q")


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(DefinitionError, match="line 2") as caught:
        parse("ok\n{% for x in %}")
    assert caught.value.details == {"line": 2}


def test_nesting_past_the_parsers_recursion_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="nested too deeply"):
        parse("{{ " + "(" * 50_000 + "1" + ")" * 50_000 + " }}")
