"""Loading hostile YAML/JSON: bombs, depth, tags, encodings, non-JSON values, error positions."""

from __future__ import annotations

import json
import time

import pytest

from snapagent.interop.dumping import dump_yaml
from snapagent.interop.errors import ImportFormatError
from snapagent.interop.loading import DocumentLimits, load_document

LIMITS = DocumentLimits()


def refused(data: bytes, limits: DocumentLimits = LIMITS) -> ImportFormatError:
    with pytest.raises(ImportFormatError) as caught:
        load_document(data, limits)
    assert caught.value.field == "file"
    return caught.value


def billion_laughs(levels: int = 9) -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    return "\n".join(lines).encode()


def test_billion_laughs_is_refused_before_it_is_built() -> None:
    began = time.perf_counter()
    error = refused(billion_laughs())
    assert "expands to more than" in error.message
    assert time.perf_counter() - began < 5  # nothing was expanded


def test_aliases_are_counted_and_small_ones_pass() -> None:
    doc = load_document(b"base: &b {x: 1}\none: *b\ntwo: *b\n", LIMITS)
    assert doc == {"base": {"x": 1}, "one": {"x": 1}, "two": {"x": 1}}
    many = "base: &b 1\nlist: [" + ",".join(["*b"] * 20) + "]\n"
    assert "aliases" in refused(many.encode(), DocumentLimits(max_aliases=10)).message


def test_an_alias_counts_with_the_depth_of_what_it_points_at() -> None:
    deep = "a: &a " + "[" * 40 + "1" + "]" * 40 + "\nb: " + "[" * 30 + "*a" + "]" * 30 + "\n"
    assert "nested deeper than 64" in refused(deep.encode()).message


@pytest.mark.parametrize(
    "data",
    [
        b"a: " + b"[" * 200 + b"]" * 200,
        b"{" + b'"a":[' * 5000 + b"1" + b"]" * 5000 + b"}",
        b"- " * 300 + b"x",
    ],
    ids=["yaml-flow", "json", "yaml-block"],
)
def test_deep_nesting_is_refused(data: bytes) -> None:
    assert "nested" in refused(data).message


def test_size_is_checked_before_anything_is_read() -> None:
    error = refused(b"a: 1\n" + b"#" * 2000, DocumentLimits(max_bytes=1024))
    assert "over the limit of 1,024 bytes" in error.message


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a: !!python/object/apply:os.system ['echo hi']", "is not supported"),
        (b"a: !!python/name:os.system x", "could not determine a constructor"),
        (b"a: !custom 1", "could not determine a constructor"),
        (b"a: !!binary aGVsbG8=", "bytes value"),
        (b"a: !!set {x, y}", "is not supported"),
        (b"a: .nan", "not a finite number"),
        (b'{"a": NaN}', "not a number JSON allows"),
        (b"\xff\xfe\x00a", "not UTF-8"),
        (b"a: b\x00c", "binary"),
        (b"   \n\t", "empty"),
        (b"- 1\n- 2", "holds a list"),
        (b"just text", "single str value"),
        (b"a: 1\n---\nb: 2\n", "several YAML documents"),
        (b"? [1, 2]\n: x\n", "key that is not text"),
        (b"a: *nowhere\n", "points at nothing"),
        (b"a: &x [1, *x]\n", "points at nothing"),
    ],
)
def test_what_json_cannot_hold_is_refused_with_the_reason(data: bytes, expected: str) -> None:
    assert expected in refused(data).message


def test_yaml_errors_name_line_and_column() -> None:
    error = refused(b"app:\n  name: x\n  mode: [workflow\nkind: app\n")
    assert error.message.startswith("YAML error at line 4, column 5")
    assert error.details == {"line": 4, "column": 5}


def test_merge_keys_and_explicit_tags() -> None:
    doc = load_document(b"base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\nn: !!str 12\n", LIMITS)
    assert doc == {"base": {"x": 1, "y": 2}, "item": {"y": 3, "x": 1}, "n": "12"}


def test_timestamps_stay_text_and_keys_become_text() -> None:
    doc = load_document(b"when: 2024-01-02\n2: two\nfalse: yes\nnull: ~\n1.5: x\n", LIMITS)
    assert doc == {"when": "2024-01-02", "2": "two", "false": True, "null": None, "1.5": "x"}


def test_json_and_a_bom_are_read() -> None:
    doc = {"app": {"mode": "workflow"}, "list": [1, 2.5, None, "ü"]}
    assert load_document(json.dumps(doc).encode(), LIMITS) == doc
    assert load_document(b"\xef\xbb\xbfa: 1", LIMITS) == {"a": 1}


@pytest.mark.parametrize(
    "text",
    ["x\n y \n", "trail  \nx", "  lead\n", "\tx\n", "yes", "1.0", "", "é中\n\n\n", "a\r\nb", "\n"],
)
def test_dump_and_load_give_the_same_text_back(text: str) -> None:
    data = {"value": text, "nested": [{"prompt": text}]}
    assert load_document(dump_yaml(data).encode(), LIMITS) == data
