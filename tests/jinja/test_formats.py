"""The padding read from a format, plus the text of its arguments, bounds what it builds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from snapagent.jinja.formats import OVERSIZED, brace_padding, percent_padding

PRINTED = 32
"""Most characters one argument here prints as, past its padding (a float, a short text)."""

widths = st.one_of(st.none(), st.integers(0, 300))
texts = st.text(alphabet="ab :.", max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(texts, st.sampled_from("-+ 0#"), widths, widths, st.sampled_from("sdf")),
        max_size=5,
    )
)
def test_percent_padding_bounds_the_result(
    fields: list[tuple[str, str, int | None, int | None, str]],
) -> None:
    fmt = "".join(
        f"{text}%{flag}{'' if w is None else w}{'' if p is None else f'.{p}'}{kind}"
        for text, flag, w, p, kind in fields
    )
    args = tuple("xy" if kind == "s" else 1.5 for *_, kind in fields)
    assert len(fmt % args) <= len(fmt) + percent_padding(fmt, args) + PRINTED * len(args)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(texts, st.sampled_from("<>^="), widths, widths, st.booleans()), max_size=5)
)
def test_brace_padding_bounds_the_result(
    fields: list[tuple[str, str, int | None, int | None, bool]],
) -> None:
    parts, kwargs = [], {}
    for n, (text, align, w, p, nested) in enumerate(fields):
        width = "" if w is None else f"{{w{n}}}" if nested else str(w)
        if nested and w is not None:
            kwargs[f"w{n}"] = w
        precision = "" if p is None else f".{p}"
        parts.append(f"{text}{{{n}:{align}{width}{precision}f}}")
    fmt = "".join(parts)
    args = tuple(1.5 for _ in fields)
    assert len(fmt.format(*args, **kwargs)) <= len(fmt) + brace_padding(
        fmt, args, kwargs
    ) + PRINTED * len(args)


def test_huge_numbers_are_oversized_without_being_parsed() -> None:
    assert percent_padding("%" + "9" * 5000 + "s", ("x",)) >= OVERSIZED
    assert brace_padding("{:" + "9" * 5000 + "}", ("x",), {}) >= OVERSIZED
    assert brace_padding("{:{}}", ("x", 10**5000), {}) >= OVERSIZED


def test_malformed_formats_are_left_to_python() -> None:
    assert brace_padding("{:>5", (), {}) == 0
    assert percent_padding("%(a", {}) == 0
