"""The bounded Jinja2 sandbox: every value a template builds is checked against `TemplateLimits`.

Jinja's immutable sandbox already blocks attribute escapes and caps ``range``; what it lets
through is *size*: ``{{ 9**9**9 }}``, ``{{ 'x' * 10**9 }}``, ``{{ 'x'|center(10**9) }}``,
``~`` doubling a string in a loop, ``lipsum(10**6)``. Here each operator result, filter result,
call result, ``~`` concatenation, block capture and the rendered output is checked (and the
amplifying operations - powers, products, widths, joins, replacements, format widths and
precisions (`snapagent.jinja.formats`), JSON indents, list sums - *before* they run), so a
template that would build something too big fails with a `TemplateLimitError` naming what it
tried. Operations whose result is at most a small constant factor of their input (``escape``,
``urlencode``, ``encode``) are checked on the result.

Time is not bounded here: nested loops over ``range(100000)`` simply run. That is why
templates with control structures render in a killable worker process with a deadline (see
`snapagent.nodes.templating`), and this module is what runs inside it:

    text = render_bounded("{% for d in docs %}{{ d.text }}{% endfor %}", values, "node-1",
                          TemplateLimits(max_chars=1_000_000))

The worker's memory limit remains the last line for anything these checks cannot predict.
"""

from __future__ import annotations

import functools
import inspect
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg

from snapagent.errors import NodeExecutionError
from snapagent.jinja.formats import brace_padding, percent_padding
from snapagent.jinja.values import present

__all__ = ["BoundedEnvironment", "TemplateLimitError", "TemplateLimits", "render_bounded"]


@dataclass(frozen=True, slots=True)
class TemplateLimits:
    """What one rendering may build: ``max_chars`` for any string (the output included),
    ``max_items`` for any list, ``max_int_bits`` for any integer."""

    max_chars: int = 1_000_000
    max_items: int = 100_000
    max_int_bits: int = 100_000


class TemplateLimitError(SecurityError):
    """The template tried to build a value over a `TemplateLimits` bound."""


def _size(value: Any) -> tuple[str, int] | None:
    if isinstance(value, str | bytes):
        return "characters", len(value)
    if isinstance(value, list | tuple | dict | set | frozenset):
        return "items", len(value)
    return None


class _OutputBuffer(list[Any]):
    """What a block capture or a macro body writes, refused as soon as it passes the limit
    (not once the whole loop inside it has run)."""

    def __init__(self, env: BoundedEnvironment) -> None:
        super().__init__()
        self.env = env
        self.chars = 0

    def append(self, piece: Any) -> None:
        self.chars += len(piece) if isinstance(piece, str) else 0
        self.env.check_chars(self.chars)
        super().append(piece)

    def extend(self, pieces: Iterable[Any]) -> None:
        for piece in pieces:
            self.append(piece)


class _BoundedCodeGenerator(CodeGenerator):
    """``a ~ b`` joins through the environment's bounded concatenation; captured output goes
    to a bounded buffer."""

    def buffer(self, frame: Frame) -> None:
        frame.buffer = self.temporary_identifier()
        self.writeline(f"{frame.buffer} = environment.output_buffer()")

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with `TemplateLimits` enforced (see the module docstring).

    Constant expressions are never folded at compile time (``optimized=False``): every
    evaluation goes through the checks, and reading a template's variables evaluates nothing.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, limits: TemplateLimits | None = None) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            optimized=False,
        )
        self.limits = limits or TemplateLimits()
        self.globals.pop("lipsum", None)  # lipsum(n=10**6) builds megabytes of text
        self.globals["range"] = self.bounded_range  # the sandbox's own cap is a constant
        self.filters = {
            name: _guarded(original, _PRECHECKS.get(name), self)
            for name, original in self.filters.items()
        }

    # -- checks -------------------------------------------------------------------------------

    def refuse(self, what: str) -> TemplateLimitError:
        return TemplateLimitError(f"the template would build {what}")

    def checked(self, value: Any) -> Any:
        """``value`` if it is within the limits (else `TemplateLimitError`)."""
        if isinstance(value, int) and not isinstance(value, bool):
            if value.bit_length() > self.limits.max_int_bits:
                raise self.refuse(f"an integer of {value.bit_length()} bits")
            return value
        size = _size(value)
        if size is not None:
            unit, count = size
            limit = self.limits.max_chars if unit == "characters" else self.limits.max_items
            if count > limit:
                raise self.refuse(f"a value of {count} {unit} (the limit is {limit})")
        return value

    def check_chars(self, count: int) -> None:
        if count > self.limits.max_chars:
            raise self.refuse(
                f"a string of {count} characters (the limit is {self.limits.max_chars})"
            )

    def check_items(self, count: int) -> None:
        if count > self.limits.max_items:
            raise self.refuse(f"a sequence of {count} items (the limit is {self.limits.max_items})")

    # -- what templates evaluate -----------------------------------------------------------

    def bounded_range(self, *args: int) -> range:
        """``range`` of at most ``max_items`` numbers (looping over more is refused, like
        building a list that long)."""
        numbers = range(*args)
        try:
            count = len(numbers)
        except OverflowError:
            count = self.limits.max_items + 1
        if count > self.limits.max_items:
            raise self.refuse(f"a range of {count} numbers (the limit is {self.limits.max_items})")
        return numbers

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and right > 1 and abs(left) > 1:
            bits = right * (abs(left).bit_length() - 1) + 1  # at least this many
            if bits > self.limits.max_int_bits:
                raise self.refuse(f"a power of at least {bits} bits")
        if operator == "*":
            if ints:
                bits = abs(left).bit_length() + abs(right).bit_length()
                if bits > self.limits.max_int_bits:
                    raise self.refuse(f"a product of about {bits} bits")
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | bytes) and isinstance(times, int):
                    self.check_chars(len(seq) * times)
                elif isinstance(seq, list | tuple) and isinstance(times, int):
                    self.check_items(len(seq) * times)
        if operator == "%" and isinstance(left, str):
            self.check_chars(len(left) + percent_padding(left, right) + _text_size(right))
        if operator == "+":
            if isinstance(left, str | bytes) and isinstance(right, str | bytes):
                self.check_chars(len(left) + len(right))
            elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
                self.check_items(len(left) + len(right))
        return self.checked(super().call_binop(context, operator, left, right))

    def call(
        __self,
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str | bytes):
            args = __self._precheck_method(owner, getattr(__obj, "__name__", ""), args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return __self.checked(result)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """The sandbox hands templates ``str.format`` / ``format_map`` as a wrapper of its own;
        this one checks the widths first (``'{:>999999999}'.format(x)``)."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text, name = value.__self__, value.__name__

        @functools.wraps(wrapped)
        def format_(*args: Any, **kwargs: Any) -> str:
            self._precheck_method(text, name, args, kwargs)
            result: str = self.checked(wrapped(*args, **kwargs))
            return result

        return format_

    def _precheck_method(
        self, text: str | bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Bounds of the string methods that grow their result; returns the arguments to use
        (``join`` gets its items as a list, read once)."""
        if name in ("center", "ljust", "rjust", "zfill"):
            width = args[0] if args else kwargs.get("width", 0)
            if isinstance(width, int):
                self.check_chars(width)
        elif name == "expandtabs":
            size = args[0] if args else kwargs.get("tabsize", 8)
            if isinstance(size, int):
                tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
                self.check_chars(len(text) + tabs * max(size, 0))
        elif name == "join" and args:
            items = _bounded_list(self, args[0])
            self.check_chars(
                sum(len(i) for i in items if isinstance(i, str | bytes))
                + len(text) * max(len(items) - 1, 0)
            )
            return (items, *args[1:])
        elif name == "replace" and len(args) >= 2:
            self.check_chars(_replaced_size(text, args[0], args[1], args[2:3]))
        elif name in ("format", "format_map") and isinstance(text, str):
            mapping = args[0] if name == "format_map" and args else kwargs
            positional = args if name == "format" else ()
            if isinstance(mapping, Mapping):
                padding = brace_padding(text, positional, mapping)
                self.check_chars(len(text) + padding + _text_size((*positional, mapping)))
        elif name == "translate" and args and isinstance(args[0], Mapping):
            table = _bounded_list(self, args[0].values())
            longest = max((len(v) for v in table if isinstance(v, str)), default=1)
            self.check_chars(len(text) * max(longest, 1))
        return args

    def output_buffer(self) -> list[Any]:
        return _OutputBuffer(self)

    def bounded_concat(self, items: Iterable[Any]) -> str:
        """``a ~ b ~ c``: the strings joined, refused before joining if too long."""
        return self.concat(str(item) for item in items)

    def concat(self, pieces: Iterable[str]) -> str:
        """Joins output pieces (block captures, macro results, ``~``) within ``max_chars``."""
        collected: list[str] = []
        total = 0
        for piece in pieces:
            total += len(piece)
            self.check_chars(total)
            collected.append(piece)
        return "".join(collected)


# -- filters ----------------------------------------------------------------------------------

Precheck = Callable[[dict[str, Any], BoundedEnvironment], None]


def _bounded_list(env: BoundedEnvironment, value: Any) -> list[Any]:
    items: list[Any] = []
    for item in value:
        items.append(item)
        env.check_items(len(items))
    return items


def _text_size(value: Any) -> int:
    """Characters of the text among a format's arguments (a string, a tuple's or a mapping's
    strings; what else they print as is checked on the result)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, tuple):
        return sum(_text_size(v) for v in value if isinstance(v, str | Mapping))
    if isinstance(value, Mapping):
        return sum(len(v) for v in value.values() if isinstance(v, str))
    return 0


def _replaced_size(text: Any, old: Any, new: Any, count: tuple[Any, ...]) -> int:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if count and isinstance(count[0], int) and count[0] >= 0:
        hits = min(hits, count[0])
    return len(text) + hits * max(len(new) - len(old), 0)


def _center(args: dict[str, Any], env: BoundedEnvironment) -> None:
    if isinstance(args.get("width"), int):
        env.check_chars(args["width"])


def _indent(args: dict[str, Any], env: BoundedEnvironment) -> None:
    text, width = str(args.get("s", "")), args.get("width", 4)
    per_line = width if isinstance(width, int) else len(str(width))
    env.check_chars(len(text) + (text.count("\n") + 1) * max(per_line, 0))


def _wordwrap(args: dict[str, Any], env: BoundedEnvironment) -> None:
    text, width = str(args.get("s", "")), args.get("width", 79)
    wrap = args.get("wrapstring") or "\n"
    if isinstance(width, int):
        env.check_chars(len(text) + (len(text) // max(width, 1) + 1) * len(str(wrap)))


def _replace(args: dict[str, Any], env: BoundedEnvironment) -> None:
    count = args.get("count")
    env.check_chars(_replaced_size(args.get("s", ""), args["old"], args["new"], (count,)))


def _join(args: dict[str, Any], env: BoundedEnvironment) -> None:
    items = _bounded_list(env, args["value"])
    args["value"] = items
    if args.get("attribute") is None:
        joiner = len(str(args.get("d", "")))
        env.check_chars(sum(len(str(i)) for i in items) + joiner * max(len(items) - 1, 0))


def _format(args: dict[str, Any], env: BoundedEnvironment) -> None:
    """``'%-20s'|format(x)`` is ``'%-20s' % (x,)``."""
    values = args.get("kwargs") or tuple(args.get("args", ()))
    text = str(args.get("value", ""))
    env.check_chars(len(text) + percent_padding(text, values) + _text_size(values))


def _tojson(args: dict[str, Any], env: BoundedEnvironment) -> None:
    """Each line of indented JSON starts with its depth times the indent."""
    indent = args.get("indent")
    width = indent if isinstance(indent, int) else len(indent) if isinstance(indent, str) else 0
    if width > 0:
        env.check_chars(_indented_size(args.get("value"), width, env))


def _indented_size(value: Any, width: int, env: BoundedEnvironment) -> int:
    """Indentation ``json.dumps(value, indent=width)`` writes: every item of a container on a
    line of its own (walked without recursion; more items than a list may hold is refused)."""
    total, seen = 0, 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        children = (
            list(item.values())
            if isinstance(item, Mapping)
            else item
            if isinstance(item, list | tuple)
            else ()
        )
        if children:
            total += width * depth  # the closing bracket's line
        for child in children:
            seen += 1
            env.check_items(seen)
            total += width * (depth + 1)
            stack.append((child, depth + 1))
        env.check_chars(total)
    return total


def _sum(args: dict[str, Any], env: BoundedEnvironment) -> None:
    """Summing lists builds a new list per item: ``[big] * n|sum(start=[])`` is quadratic."""
    items = _bounded_list(env, args["iterable"])
    args["iterable"] = items
    start = args.get("start")
    if isinstance(start, list | tuple) and args.get("attribute") is None:
        env.check_items(len(start) + sum(len(i) for i in items if isinstance(i, list | tuple)))


def _batch(args: dict[str, Any], env: BoundedEnvironment) -> None:
    if isinstance(args.get("linecount"), int):
        env.check_items(args["linecount"])


def _slice(args: dict[str, Any], env: BoundedEnvironment) -> None:
    if isinstance(args.get("slices"), int):
        env.check_items(args["slices"])


_PRECHECKS: dict[str, Precheck] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "format": _format,
    "tojson": _tojson,
    "sum": _sum,
    "batch": _batch,
    "slice": _slice,
}


_INJECTED = frozenset({"context", "environment", "eval_ctx"})


def _guarded(original: Any, precheck: Precheck | None, env: BoundedEnvironment) -> Any:
    """``original`` with its amplifying arguments checked first and its result checked after
    (``functools.wraps`` keeps Jinja's pass_context / pass_environment marks)."""
    signature = inspect.signature(original) if precheck is not None else None
    # Jinja passes a context/environment first to a marked filter; the signature of its async
    # variants (wrapping the plain function) does not show that argument, so skip it there.
    names = list(signature.parameters) if signature is not None else []
    skip = int(
        _PassArg.from_obj(original) is not None and names[:1] != [] and names[0] not in _INJECTED
    )

    @functools.wraps(original)
    def filter_(*args: Any, **kwargs: Any) -> Any:
        if signature is not None and precheck is not None:
            bound = signature.bind(*args[skip:], **kwargs)
            bound.apply_defaults()
            precheck(bound.arguments, env)
            args, kwargs = (*args[:skip], *bound.args), bound.kwargs
        return env.checked(original(*args, **kwargs))

    return filter_


# -- rendering --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _environment(limits: TemplateLimits) -> BoundedEnvironment:
    return BoundedEnvironment(limits)


COMPILED_CACHE_CHARS = 4_000_000
"""Source characters of the compiled templates a worker keeps (within its memory limit)."""
_COMPILED: OrderedDict[tuple[str, TemplateLimits], jinja2.Template] = OrderedDict()


def _compiled(source: str, limits: TemplateLimits) -> jinja2.Template:
    """The compiled template, cached by source up to `COMPILED_CACHE_CHARS` in all: a worker
    rendering many long templates must not fill its memory with their code."""
    key = (source, limits)
    found = _COMPILED.get(key)
    if found is not None:
        _COMPILED.move_to_end(key)
        return found
    template = _environment(limits).from_string(source)
    _COMPILED[key] = template
    while sum(len(cached) for cached, _ in _COMPILED) > COMPILED_CACHE_CHARS and _COMPILED:
        _COMPILED.popitem(last=False)
    return template


def render_bounded(
    source: str, values: Mapping[str, Any], node_id: str, limits: TemplateLimits
) -> str:
    """Render ``source`` over ``values`` within ``limits``; every failure is a
    `NodeExecutionError` naming the node and what went wrong (never a traceback)."""
    env = _environment(limits)
    label = f"template of node {node_id!r}"
    try:
        template = _compiled(source, limits)
        pieces = template.generate({k: present(v) for k, v in values.items()})
        return env.concat(pieces)
    except jinja2.UndefinedError as exc:
        raise NodeExecutionError(f"{label}: {exc.message}", node_id=node_id) from None
    except TemplateLimitError as exc:
        raise NodeExecutionError(f"{label} went over a limit: {exc}", node_id=node_id) from None
    except SecurityError as exc:
        raise NodeExecutionError(
            f"{label} tried an unsafe operation: {exc}", node_id=node_id
        ) from None
    except RecursionError:
        raise NodeExecutionError(f"{label} recursed too deeply", node_id=node_id) from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise NodeExecutionError(f"{label} failed: {exc}", node_id=node_id) from None
