"""How values cross the process boundary, and why the parent never trusts a worker's bytes.

Requests (parent -> worker) are ordinary pickles: the parent is trusted. Replies (worker ->
parent) may come from a worker that hostile input has taken over, so they are decoded by
`loads`, an unpickler that refuses every class and function except the ones the pool named:
plain data (None, bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set,
frozenset) needs no lookup at all, and nothing else can be conjured into existence (no
``os.system`` gadget).
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Iterable
from typing import Any

__all__ = ["UnsafeReplyError", "allowed_names", "dumps", "is_plain", "loads"]

PROTOCOL = 5

_PLAIN_SCALARS = (type(None), bool, int, float, complex, str, bytes, bytearray)


class UnsafeReplyError(Exception):
    """A reply named a class or function the pool does not accept."""


def dumps(value: Any) -> bytes:
    return pickle.dumps(value, protocol=PROTOCOL)


def allowed_names(types: Iterable[type]) -> frozenset[tuple[str, str]]:
    """The ``(module, qualname)`` pairs that `loads` may resolve."""
    return frozenset((t.__module__, t.__qualname__) for t in types)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: frozenset[tuple[str, str]]) -> None:
        super().__init__(io.BytesIO(data))
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise UnsafeReplyError(f"the reply names {module}.{name}, which is not allowed")
        return super().find_class(module, name)


def loads(data: bytes, allowed: frozenset[tuple[str, str]] = frozenset()) -> Any:
    """Decode a worker's reply, resolving only the ``allowed`` names (`UnsafeReplyError`)."""
    return _RestrictedUnpickler(data, allowed).load()


def is_plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is plain data that `loads` accepts with no allowed names."""
    if depth > 50:
        return False
    if isinstance(value, _PLAIN_SCALARS):
        return type(value) in _PLAIN_SCALARS
    if type(value) in (list, tuple, set, frozenset):
        return all(is_plain(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(is_plain(k, depth + 1) and is_plain(v, depth + 1) for k, v in value.items())
    return False
