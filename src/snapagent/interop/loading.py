"""Hostile-safe loading of an uploaded YAML or JSON document into plain JSON data.

    doc = load_document(data, DocumentLimits())      # a dict of str/int/float/bool/None/list/dict

What a hostile file cannot do here:

- **Run code or build objects**: the safe loader (``SafeConstructor``) knows only plain YAML
  types; ``!!python/...`` and unknown tags are YAML errors.
- **Explode through aliases** ("billion laughs"): before anything is built, a pass over the
  parser's events counts aliases and the number of values the document would have once every
  alias is expanded, and refuses past ``max_aliases`` / ``max_values``.
- **Nest without bound**: the same pass refuses nesting deeper than ``max_depth`` (aliases
  count with the depth of what they point at), so nothing later recurses too deep.
- **Smuggle non-JSON values**: timestamps stay text, binary/sets/NaN are refused, keys become
  text; the result stores as JSON as it is.

Every refusal is an `ImportFormatError` saying why; YAML syntax errors give the line and column
(1-based, also in ``details``). The size limit is checked before decoding. This is CPU work on
untrusted input: callers run it in an isolated worker (`snapagent.interop.worker`), never on
the event loop.
"""

from __future__ import annotations

import codecs
import datetime
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from snapagent.interop.errors import ImportFormatError

__all__ = ["DocumentLimits", "load_document"]

_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The safe loader without YAML 1.1 timestamps (``2024-01-01`` stays text: JSON has no
    dates, and Dify stores such values as strings)."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[Any]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """What one document may contain (see `snapagent.interop.settings.ImportSettings`)."""

    max_bytes: int = 10 * 1024 * 1024
    max_aliases: int = 1_000
    max_depth: int = 64
    max_values: int = 2_000_000


def load_document(data: bytes, limits: DocumentLimits) -> dict[str, Any]:
    """The document as JSON data (a mapping at the top); `ImportFormatError` saying why not."""
    if len(data) > limits.max_bytes:
        raise ImportFormatError(
            f"the file is {len(data):,} bytes, over the limit of {limits.max_bytes:,} bytes"
        )
    text = _decode(data)
    if not text.strip():
        raise ImportFormatError("the file is empty")
    value = _load_json(text, limits) if text.lstrip()[:1] in ("{", "[") else None
    if value is None:
        _check_events(text, limits)
        try:
            value = yaml.load(text, Loader=_Loader)
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc) from None
        except yaml.YAMLError as exc:
            raise ImportFormatError(f"the file is not valid YAML: {exc}") from None
    plain = _plain(value, "", limits.max_depth)
    if not isinstance(plain, dict):
        kind = "a list" if isinstance(plain, list) else f"a single {type(plain).__name__} value"
        raise ImportFormatError(
            f"the file holds {kind}, not an app export (a mapping with 'kind' or 'app' at the top)"
        )
    return plain


def _decode(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFormatError(
            f"the file is not UTF-8 text (invalid byte at offset {exc.start})"
        ) from None
    if "\x00" in text:
        raise ImportFormatError("the file is binary, not YAML or JSON text")
    return text


def _load_json(text: str, limits: DocumentLimits) -> Any:
    """JSON through the fast parser; None when it is not JSON (then it is read as YAML)."""

    def refuse_constant(name: str) -> Any:
        raise ImportFormatError(f"the file contains {name}, which is not a number JSON allows")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except RecursionError:
        raise ImportFormatError(
            f"the document is nested deeper than {limits.max_depth} levels"
        ) from None
    except json.JSONDecodeError:
        return None


class _Frame:
    __slots__ = ("anchor", "height", "values")

    def __init__(self, anchor: str | None) -> None:
        self.anchor = anchor
        self.values = 1
        self.height = 0


def _check_events(text: str, limits: DocumentLimits) -> None:
    """Refuse a document whose expanded size, alias count or depth is over the limits,
    reading only the parser's events (nothing is built)."""
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values, height) of its subtree
    stack: list[_Frame] = []
    expanded = aliases = documents = 0

    def grow(values: int, height: int) -> None:
        nonlocal expanded
        expanded += values
        if expanded > limits.max_values:
            raise ImportFormatError(
                f"the document expands to more than {limits.max_values:,} values "
                "(YAML aliases repeat what they point at): refused"
            )
        if len(stack) + height > limits.max_depth:
            raise ImportFormatError(f"the document is nested deeper than {limits.max_depth} levels")

    def attach(values: int, height: int) -> None:
        if stack:
            stack[-1].values += values
            stack[-1].height = max(stack[-1].height, height + 1)

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise ImportFormatError(
                        "the file holds several YAML documents; export one app per file"
                    )
            elif isinstance(event, yaml.ScalarEvent):
                grow(1, 0)
                attach(1, 0)
                if event.anchor is not None:
                    anchors[event.anchor] = (1, 0)
            elif isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > limits.max_aliases:
                    raise ImportFormatError(
                        f"the document uses more than {limits.max_aliases:,} YAML aliases: refused"
                    )
                values, height = anchors.get(event.anchor or "", (1, 0))
                grow(values, height)
                attach(values, height)
            elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
                grow(1, 1)
                stack.append(_Frame(event.anchor))
            elif isinstance(event, yaml.CollectionEndEvent):
                frame = stack.pop()
                attach(frame.values, frame.height)
                if frame.anchor is not None:
                    anchors[frame.anchor] = (frame.values, frame.height)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc) from None
    except yaml.YAMLError as exc:
        raise ImportFormatError(f"the file is not valid YAML: {exc}") from None


def _yaml_error(exc: yaml.MarkedYAMLError) -> ImportFormatError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return ImportFormatError(f"YAML error: {problem}")
    line, column = mark.line + 1, mark.column + 1
    return ImportFormatError(
        f"YAML error at line {line}, column {column}: {problem}",
        details={"line": line, "column": column},
    )


def _key(key: Any, path: str) -> str:
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool | int | float):
        return json.dumps(key)
    raise ImportFormatError(f"{path or 'the document'} has a key that is not text: refused")


def _plain(value: Any, path: str, depth: int) -> Any:
    """``value`` as JSON data (depth was checked by the event pass; this guards the JSON path)."""
    if depth < 0:
        raise ImportFormatError("the document is nested too deeply")
    if isinstance(value, str | bool | int) or value is None:
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ImportFormatError(f"{path or 'the document'} is {value}, not a finite number")
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = _key(key, path)
            out[name] = _plain(item, f"{path}.{name}" if path else name, depth - 1)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{i}]", depth - 1) for i, item in enumerate(value)]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    kind = type(value).__name__
    raise ImportFormatError(f"{path or 'the document'} holds a {kind} value, which JSON cannot")
