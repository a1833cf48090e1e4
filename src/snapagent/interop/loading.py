"""Hostile-safe loading of an uploaded YAML or JSON document into plain JSON data.

    doc = load_document(data, DocumentLimits())      # a dict of str/int/float/bool/None/list/dict

What a hostile file cannot do here:

- **Run code or build objects**: scalars are constructed by the safe loader's constructor
  (plain YAML types only); ``!!python/...`` and other unknown tags are errors.
- **Explode through aliases** ("billion laughs"): the document is built from the parser's
  events in one pass that counts aliases and the values the document has with every alias
  expanded, and stops past ``max_aliases`` / ``max_values`` - before the expansion exists.
- **Nest without bound**: the same pass refuses nesting deeper than ``max_depth`` (aliases
  count with the depth of what they point at), so nothing later recurses too deep.
- **Smuggle non-JSON values**: timestamps stay text, binary/sets/NaN are refused, keys become
  text; the result stores as JSON as it is.

Every refusal is an `ImportFormatError` saying why; YAML syntax errors give the line and column
(1-based, also in ``details``). The size limit is checked before decoding. This is CPU work on
untrusted input: the server runs it in an isolated worker (`snapagent.interop.converter`),
never on the event loop.
"""

from __future__ import annotations

import codecs
import datetime
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar, cast

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
    plain = _load_yaml(text, limits) if value is None else _plain(value, "", limits.max_depth)
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
    """A mapping or list being built from parser events."""

    __slots__ = ("anchor", "height", "items", "key", "mapping", "values")

    def __init__(self, anchor: str | None, mapping: bool) -> None:
        self.anchor = anchor
        self.mapping = mapping
        self.items: Any = {} if mapping else []
        self.key: Any = _NO_KEY
        self.values = 1
        self.height = 0


_NO_KEY = object()
_COLLECTION_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_MERGE = "<<"


class _Builder:
    """Builds the document from the parser's events, counting as it goes: what aliases would
    expand to, how many there are, how deep it nests (an alias counts with the depth of what
    it points at). Scalars are resolved and constructed as the safe loader does; the result is
    plain data. One pass, no node graph: PyYAML's composer and constructors would take a
    minute on a 10 MB file."""

    def __init__(self, limits: DocumentLimits) -> None:
        self.limits = limits
        self.anchors: dict[str, tuple[Any, int, int]] = {}  # anchor -> (value, values, height)
        self.stack: list[_Frame] = []
        self.expanded = 0
        self.aliases = 0
        self.documents = 0
        self.root: Any = None
        self.resolver = yaml.resolver.Resolver()
        self.resolver.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers
        self.constructor = yaml.constructor.SafeConstructor()

    def grow(self, values: int, height: int) -> None:
        self.expanded += values
        if self.expanded > self.limits.max_values:
            raise ImportFormatError(
                f"the document expands to more than {self.limits.max_values:,} values "
                "(YAML aliases repeat what they point at): refused"
            )
        if len(self.stack) + height > self.limits.max_depth:
            raise ImportFormatError(
                f"the document is nested deeper than {self.limits.max_depth} levels"
            )

    def attach(self, value: Any, values: int, height: int) -> None:
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        frame.values += values
        frame.height = max(frame.height, height + 1)
        if not frame.mapping:
            frame.items.append(value)
        elif frame.key is _NO_KEY:
            frame.key = value
        else:
            key, frame.key = frame.key, _NO_KEY
            if key == _MERGE and isinstance(value, dict | list):
                for merged in value if isinstance(value, list) else [value]:
                    if isinstance(merged, dict):
                        for k, v in merged.items():
                            frame.items.setdefault(k, v)
                return
            frame.items[_key(key, "")] = value

    def scalar(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag is None or tag == "!":
            resolve: Any = self.resolver.resolve  # untyped in the stubs
            tag = resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag == "tag:yaml.org,2002:str":
            return event.value
        if tag == "tag:yaml.org,2002:merge":
            return _MERGE
        node: Any = yaml.ScalarNode(tag, event.value, style=event.style)
        node.start_mark, node.end_mark = event.start_mark, event.end_mark  # for error lines
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(exc) from None
        return _plain(value, "a value", 0)

    def feed(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.DocumentStartEvent):
            self.documents += 1
            if self.documents > 1:
                raise ImportFormatError(
                    "the file holds several YAML documents; export one app per file"
                )
        elif isinstance(event, yaml.ScalarEvent):
            value = self.scalar(event)
            self.grow(1, 0)
            self.attach(value, 1, 0)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1, 0)
        elif isinstance(event, yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > self.limits.max_aliases:
                raise ImportFormatError(
                    f"the document uses more than {self.limits.max_aliases:,} YAML aliases: refused"
                )
            found = self.anchors.get(event.anchor or "")
            if found is None:
                raise ImportFormatError(
                    f"YAML alias *{event.anchor} points at nothing defined before it (or at "
                    "something that contains it)"
                )
            value, values, height = found
            self.grow(values, height)
            self.attach(_copy(value), values, height)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if event.tag not in _COLLECTION_TAGS:
                raise _yaml_error(
                    yaml.MarkedYAMLError(
                        problem=f"the tag {event.tag!r} is not supported (plain mappings and "
                        "lists only)",
                        problem_mark=cast(Any, event.start_mark),
                    )
                )
            self.grow(1, 1)
            self.stack.append(_Frame(event.anchor, isinstance(event, yaml.MappingStartEvent)))
        elif isinstance(event, yaml.CollectionEndEvent):
            frame = self.stack.pop()
            self.attach(frame.items, frame.values, frame.height)
            if frame.anchor is not None:
                self.anchors[frame.anchor] = (frame.items, frame.values, frame.height)


def _copy(value: Any) -> Any:
    """A copy of an aliased value (its size was counted), so no two places share one object."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _load_yaml(text: str, limits: DocumentLimits) -> Any:
    builder = _Builder(limits)
    try:
        for event in yaml.parse(text, Loader=_Loader):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(exc) from None
    except yaml.YAMLError as exc:
        raise ImportFormatError(f"the file is not valid YAML: {exc}") from None
    return builder.root


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
