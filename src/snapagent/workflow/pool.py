"""`VariablePool`: every value a run produced, by ``(node_id, port)``, plus ``sys`` values.

    pool = VariablePool(sys={"bot_id": "b1"}, max_value_bytes=1_000_000)
    pool.set_outputs("kb", {"documents": [{"text": "...", "score": 0.9}]})
    pool.get(ValueSelector(("kb", "documents", 0, "text")))   # nested read
    pool.get(ValueSelector(("sys", "bot_id")))                 # -> "b1"
    pool.snapshot()                                            # JSON-safe copy for recording

Values are stored as given (no copies on the hot path); `snapshot()` copies.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from snapagent.errors import VariableError
from snapagent.workflow.schema import SYS_NODE_ID, ValueSelector

__all__ = ["DEFAULT_MAX_VALUE_BYTES", "VariablePool", "approximate_size"]

DEFAULT_MAX_VALUE_BYTES = 8 * 1024 * 1024

_MISSING: Any = object()


_SCALARS = (int, float, bool, type(None))


def approximate_size(value: Any, limit: int) -> int:
    """A cheap estimate in bytes of a JSON-like value (text length, 8 per scalar, plus keys);
    stops counting past ``limit`` so a huge value costs no more than reaching the limit.

    Exact-type checks come first: this runs for every value a node writes.
    """
    cls = value.__class__
    if cls is str or cls is bytes:
        return len(value)
    if cls in _SCALARS:
        return 8
    if cls is dict or isinstance(value, Mapping):
        total = 0
        for key, item in value.items():
            item_cls = item.__class__
            if item_cls is str:
                total += len(key) + len(item) if key.__class__ is str else len(str(key)) + len(item)
            else:
                total += len(str(key)) + approximate_size(item, limit - total)
            if total > limit:
                break
        return total
    if cls is list or cls is tuple or isinstance(value, list | tuple):
        total = 0
        for item in value:
            total += len(item) if item.__class__ is str else approximate_size(item, limit - total)
            if total > limit:
                break
        return total
    if isinstance(value, str | bytes):
        return len(value)
    return len(repr(value))


class VariablePool:
    """Values per node output port, nested reads, ``sys`` values, a size cap per value."""

    __slots__ = ("_max_value_bytes", "_values")

    def __init__(
        self,
        sys: Mapping[str, Any] | None = None,
        *,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        self._max_value_bytes = max_value_bytes
        self._values: dict[str, Mapping[str, Any]] = {SYS_NODE_ID: dict(sys or {})}

    def set_outputs(self, node_id: str, outputs: Mapping[str, Any]) -> None:
        """Store a node's outputs; raises `VariableError` when a value exceeds the size cap."""
        limit = self._max_value_bytes
        for port, value in outputs.items():
            cls = value.__class__
            if cls is str:  # the common case, without a call
                size = len(value)
            elif cls in _SCALARS:
                continue
            else:
                size = approximate_size(value, limit)
            if size > limit:
                raise VariableError(
                    f"output {node_id}.{port} is about {size} bytes, over the {limit} byte limit "
                    "per value (raise RunLimits.max_value_bytes or make the value smaller)",
                    node_id=node_id,
                    details={"port": port, "size": size, "limit": limit},
                )
        self._values[node_id] = outputs

    def link(self, node_id: str, outputs: Mapping[str, Any]) -> None:
        """Make values of an enclosing run readable here (a container body reading outer
        nodes and its scope values): shared, not copied, not checked again."""
        self._values[node_id] = outputs

    def set(self, node_id: str, port: str, value: Any) -> None:
        """Set one value (merging with the node's other outputs)."""
        merged = dict(self._values.get(node_id, {}))
        merged[port] = value
        self.set_outputs(node_id, merged)

    def has(self, node_id: str, port: str) -> bool:
        outputs = self._values.get(node_id)
        return outputs is not None and port in outputs

    def outputs_of(self, node_id: str) -> Mapping[str, Any] | None:
        return self._values.get(node_id)

    def get(self, selector: ValueSelector, default: Any = _MISSING) -> Any:
        """Read the value at ``selector``; `VariableError` (or ``default``) when absent."""
        return self.read(selector.node_id, selector.port, selector.path, default)

    def read(
        self, node_id: str, port: str, path: tuple[str | int, ...] = (), default: Any = _MISSING
    ) -> Any:
        """`get` without building a selector (the executor's hot path)."""
        outputs = self._values.get(node_id)
        if outputs is None or port not in outputs:
            if default is not _MISSING:
                return default
            where = "sys value" if node_id == SYS_NODE_ID else "value"
            raise VariableError(
                f"no {where} at {node_id}.{port} (the node did not run or has no such output)",
                node_id=node_id,
                details={"selector": [node_id, port, *path]},
            )
        value = outputs[port]
        for depth, step in enumerate(path):
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                if default is not _MISSING:
                    return default
                shown = ".".join(str(p) for p in (node_id, port, *path[: depth + 1]))
                raise VariableError(
                    f"path {shown} does not exist (the value there is {type(value).__name__})",
                    node_id=node_id,
                    details={"selector": [node_id, port, *path]},
                ) from None
        return value

    @property
    def sys(self) -> Mapping[str, Any]:
        return self._values[SYS_NODE_ID]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """A deep copy of everything, ``{node_id: {port: value}}`` (``sys`` included)."""
        return {node: copy.deepcopy(dict(values)) for node, values in self._values.items()}

    def __len__(self) -> int:
        return sum(len(v) for v in self._values.values())
