"""The bounded sandbox refuses every way a template can build something huge, with a message
naming it, and renders everything else exactly as Jinja's immutable sandbox does."""

from __future__ import annotations

import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from snapagent.errors import NodeExecutionError
from snapagent.jinja import TemplateLimits, bounded, render_bounded

LIMITS = TemplateLimits(max_chars=100_000, max_items=10_000, max_int_bits=10_000)
BIG = 10**9


def render(source: str, **values: object) -> str:
    return render_bounded(source, values, "t", LIMITS)


@pytest.mark.parametrize(
    "source",
    [
        # arithmetic: the result is guarded, not only the operands
        "{{ 9 ** (9 ** 9) }}",
        "{{ (2 ** 9000) * (2 ** 9000) }}",
        "{{ ((2 ** 100) ** 100) ** 100 }}",
        # building strings and lists
        "{{ 'x' * 10 ** 9 }}",
        "{{ 10 ** 9 * 'x' }}",
        "{{ [1] * 10 ** 9 }}",
        "{% set s = 'x' * 99000 %}{{ s + s }}",
        "{% set s = 'x' * 99000 %}{{ s ~ s }}",
        "{% set ns = namespace(s='x') %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        # format widths and precisions, read before formatting
        "{{ '%999999999s' % 'x' }}",
        "{{ '%(a)999999999s' % {'a': 1} }}",
        "{{ '%.999999f' % 1.5 }}",
        "{{ '%*d' % (999999999, 1) }}",
        "{{ '%999999999s'|format('x') }}",
        "{{ '%*d'|format(999999999, 1) }}",
        "{{ ['%999999999s']|map('format', 1)|list }}",
        "{{ '{:>999999999}'.format('x') }}",
        "{{ '{:>{w}}'.format('x', w=999999999) }}",
        "{{ '{0:{1}}'.format('x', 999999999) }}",
        "{{ '{a:.999999999f}'.format_map({'a': 1.5}) }}",
        "{{ '{:x>99999999999999999999}'.format(1) }}",
        # other amplifiers chosen by an argument
        "{{ ('x' * 1000).translate({120: 'y' * 1000}) }}",
        "{{ ([[1, [2, [3]]]] * 100)|tojson(indent=100000) }}",
        "{{ ([[1]] * 3)|tojson(indent='x' * 50000) }}",
        "{{ ([[1] * 5000] * 5)|sum(start=[]) }}",
        # filters that grow their input
        f"{{{{ 'x'|center({BIG}) }}}}",
        f"{{{{ 'a\\nb'|indent({BIG}) }}}}",
        "{{ 'a\\nb'|indent('x' * 99999) }}",
        "{{ 'a b c d'|wordwrap(1, wrapstring='x' * 99999) }}",
        "{{ 'abc'|replace('', 'x' * 50000) }}",
        "{{ ['x' * 60000, 'y' * 60000]|join }}",
        "{{ ['a', 'b']|join('x' * 99999) }}",
        "{{ '%s%s'|format('x' * 60000, 'y' * 60000) }}",
        "{{ [1]|batch(10 ** 9, 0)|list }}",
        "{{ [1]|slice(10 ** 9)|list }}",
        # string methods
        f"{{{{ 'x'.ljust({BIG}) }}}}",
        f"{{{{ 'x'.zfill({BIG}) }}}}",
        f"{{{{ ('\\t' * 100).expandtabs({BIG}) }}}}",
        "{{ ','.join(['x' * 60000, 'y' * 60000]) }}",
        "{{ 'ab'.replace('', 'x' * 50000) }}",
        # captured blocks and macros
        "{% set x %}{% for i in range(10000) %}{{ 'y' * 20 }}{% endfor %}{% endset %}{{ x }}",
        "{% macro m() %}{% for i in range(10000) %}yyyyyyyyyyyyyyyyyyyyyy{% endfor %}"
        "{% endmacro %}{{ m() }}",
        # loops: range is bounded by max_items (the sandbox's own cap is a constant 100,000)
        "{% for i in range(20000) %}{% endfor %}",
        "{% for i in range(10 ** 30) %}{% endfor %}",
        # the rendered output itself
        "{% for i in range(10000) %}{{ 'y' * 20 }}{% endfor %}",
    ],
)
def test_oversized_values_are_refused_with_a_clear_message(source: str) -> None:
    with pytest.raises(NodeExecutionError, match=r"template of node 't' went over a limit"):
        render(source)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursed too deeply"),
        ("{{ lipsum(10 ** 6) }}", "'lipsum' is undefined"),
        ("{{ range(10 ** 9)|list }}", "a range of"),
        ("{{ x.__class__.__mro__ }}", "unsafe"),
        ("{{ items.append(1) }}", "unsafe"),
        ("{{ missing }}", "'missing' is undefined"),
        ("{{ 10.0 ** 400 }}", "failed"),
        ("{{ 1 / 0 }}", "failed"),
    ],
)
def test_other_failures_are_node_errors_not_crashes(source: str, message: str) -> None:
    with pytest.raises(NodeExecutionError, match=message):
        render(source, x=1, items=[])


@pytest.mark.parametrize(
    "source",
    [
        "{{ 2 ** 64 }} {{ 3 * 4 }} {{ 'ab' * 3 }} {{ [1, 2] * 2 }} {{ 'a' ~ 1 ~ none }}",
        "{{ 'x'|center(9) }}|{{ 'a\\nb'|indent(2, first=true) }}|{{ 'a b c'|wordwrap(3) }}",
        "{{ 'aXbX'|replace('X', '--') }} {{ [1, 2, 3]|join(', ') }} {{ '%05d'|format(42) }}",
        "{% for row in [1, 2, 3, 4, 5]|batch(2, 0) %}{{ row }}{% endfor %}",
        "{{ 'ab'.center(6, '*') }} {{ '-'.join(['a', 'b']) }} {{ 'a\\tb'.expandtabs(4) }}",
        "{% set x %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ x }}{{ x|length }}",
        "{% macro m(n) %}<{{ n }}>{% endmacro %}{{ m(1) }}{{ m('two') }}",
        "{% set ns = namespace(s='x') %}{% for i in range(5) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}{{ ns.s|length }}",
        "{{ docs }}|{% for d in docs %}{{ d.text }}{% endfor %}|{{ history }}",
        "{{ '%-5s|%.2f|%*d' % ('a', 1.0, 4, 7) }} {{ '%(a)s' % {'a': 1} }} {{ '%d%%'|format(5) }}",
        "{{ '{0:>6}|{w:_^7}|{0:.1}'.format('xy', w=3) }} {{ '{a:08.3f}'.format_map({'a': 2.5}) }}",
        "{{ '{:{w}}'.format('x', w=4) }} {{ 'abc'.translate({97: 'AA'}) }}",
        "{{ {'a': [1, 2]}|tojson(indent=2) }} {{ [[1], [2]]|sum(start=[]) }} {{ [1, 2]|sum }}",
    ],
)
def test_ordinary_templates_render_as_in_jinjas_sandbox(source: str) -> None:
    docs = [{"text": "Alpha.", "document_id": "d1", "document_title": "First"}]
    history = [{"role": "user", "content": "hi"}]
    expected = (
        ImmutableSandboxedEnvironment(keep_trailing_newline=True)
        .from_string(
            source.replace("{{ docs }}", "[1] First\nAlpha.").replace("{{ history }}", "user: hi")
        )
        .render(docs=docs, history=history)
    )
    assert render(source, docs=docs, history=history) == expected


def test_compiled_templates_kept_by_a_worker_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bounded, "COMPILED_CACHE_CHARS", 250)
    bounded._COMPILED.clear()
    for n in range(6):
        assert render("{{ 1 + " + str(n) + " }}" + " " * 90) == f"{1 + n}" + " " * 90
    assert sum(len(source) for source, _ in bounded._COMPILED) <= 250
    assert len(bounded._COMPILED) == 2  # the two most recent
