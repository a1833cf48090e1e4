"""The fast path renders exactly what Jinja renders, and only takes pure substitutions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapagent.jinja import BoundedEnvironment, Substitution, TemplateLimitError, parse, present

REFERENCE = BoundedEnvironment()
NAMES = ("a", "b", "doc", "rows")

scalars = st.one_of(
    st.text(max_size=20), st.integers(-(10**6), 10**6), st.floats(allow_nan=False), st.none(),
    st.booleans(),
)  # fmt: skip
values = st.fixed_dictionaries(
    {
        "a": scalars,
        "b": st.text(alphabet="{}%# ab\n", max_size=12),  # template syntax stays literal text
        "doc": st.fixed_dictionaries(
            {"text": st.text(max_size=10), "document_id": st.just("d1"), "title": scalars}
        ),
        "rows": st.lists(st.dictionaries(st.sampled_from(["id", "x"]), scalars), max_size=3),
        "docs": st.lists(  # retrieved documents print as numbered passages
            st.fixed_dictionaries(
                {"text": st.text(max_size=10), "document_id": st.just("d"), "heading": scalars}
            ),
            max_size=3,
        ),
        "history": st.lists(  # chat messages print as "role: content" lines
            st.fixed_dictionaries({"role": st.just("user"), "content": st.text(max_size=8)}),
            max_size=3,
        ),
    }
)
expressions = st.sampled_from(
    ["a", "b", "doc.text", "doc['title']", "doc.document_id", "rows", "doc", "docs", "history",
     "docs[0]", "history[0].content"]
)  # fmt: skip
pieces = st.one_of(
    st.text(alphabet="abc \n.:-", max_size=8),
    expressions.map(lambda e: "{{ " + e + " }}"),
    expressions.map(lambda e: "{{- " + e + " -}}"),
    st.just("{# a comment #}"),
)


def outcome(render: Callable[[], str]) -> str:
    """The text, or the error as Jinja would report it (an empty list has no element 0)."""
    try:
        return render()
    except jinja2.UndefinedError as exc:
        return f"UndefinedError: {exc.message}"


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=8).map("".join), values)
def test_substitutions_render_exactly_like_jinja(source: str, data: dict[str, Any]) -> None:
    plan = Substitution.of(parse(source))
    assert plan is not None, source
    ours = outcome(lambda: plan.render(data, max_chars=10_000))
    context = {k: present(v) for k, v in data.items()}
    assert ours == outcome(lambda: REFERENCE.from_string(source).render(context))


@pytest.mark.parametrize(
    "source",
    [
        "{{ a|upper }}",
        "{{ a ~ b }}",
        "{{ a * 2 }}",
        "{% if a %}x{% endif %}",
        "{% for r in rows %}{{ r }}{% endfor %}",
        "{{ a() }}",
        "{{ rows[a] }}",
        "{% set x = 1 %}{{ x }}",
        "{{ 'lit' if a else b }}",
    ],
)
def test_anything_but_substitution_is_not_taken(source: str) -> None:
    assert Substitution.of(parse(source)) is None


def test_errors_are_the_ones_jinja_raises() -> None:
    plan = Substitution.of(parse("{{ missing }}"))
    assert plan is not None
    with pytest.raises(jinja2.UndefinedError, match="'missing' is undefined"):
        plan.render({}, max_chars=100)
    unsafe = Substitution.of(parse("{{ a.__class__ }}"))
    assert unsafe is not None
    with pytest.raises(jinja2.exceptions.SecurityError):
        unsafe.render({"a": 1}, max_chars=100)


def test_output_is_bounded_before_it_is_joined() -> None:
    plan = Substitution.of(parse("{{ a }}{{ a }}{{ a }}"))
    assert plan is not None
    assert plan.render({"a": "x" * 30}, max_chars=90) == "x" * 90
    with pytest.raises(TemplateLimitError, match="over 89 characters"):
        plan.render({"a": "x" * 30}, max_chars=89)
