"""Checking a JSON value against a user-written JSON Schema (draft 2020-12), in a worker.

An agent tool's argument schema is written by a workflow's author and the arguments by a model
that reads the chat: a ``pattern`` that backtracks, ``$ref`` s that fan out (``allOf`` of two
references to a definition that does the same, forty levels down), ``uniqueItems`` over a long
list of objects or ``unevaluatedProperties`` under many ``anyOf`` s can each take exponential or
quadratic time in jsonschema. So this runs only in an `IsolatedPool` worker with a deadline and
a memory limit (`snapagent.nodes.agent_tools.argument_check`), never on the event loop; this
module imports nothing of the server, so the worker stays small.

    schema_problem('{"type": "object", "properties": {"n": {"type": "integer"}}}', '{"n": "x"}')
    # -> "n: 'x' is not of type 'integer'"
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from jsonschema import ValidationError

__all__ = ["prepare_schema_worker", "schema_problem"]

_ERRORS_READ: Final = 100
"""Errors collected before the first three (by path) are reported: a value with a million
wrong items must not build a million error objects."""
_MESSAGE_CHARS: Final = 300


def prepare_schema_worker() -> dict[str, str]:
    """The `IsolatedPool` initializer: niced and seccomp-confined like the template workers,
    with jsonschema imported before the first call (its import is most of a cold check)."""
    from snapagent.jinja.worker import prepare_template_worker

    info = prepare_template_worker()
    import jsonschema  # noqa: F401

    return info


def schema_problem(schema_json: str, value_json: str) -> str | None:
    """Why the value does not match the schema (its first three problems by path), or None.
    ``format`` is not asserted (draft 2020-12's default). A schema that cannot be applied (an
    unresolvable or endlessly recursive reference) accepts everything: the provider also
    receives the schema and checks it on its side."""
    from jsonschema import Draft202012Validator

    schema: Any = json.loads(schema_json)
    value: Any = json.loads(value_json)
    try:
        errors = list(
            itertools.islice(Draft202012Validator(schema).iter_errors(value), _ERRORS_READ)
        )
    except MemoryError:
        raise  # the pool reports it as over the memory limit
    except Exception:  # referencing errors, RecursionError and friends
        return None
    if not errors:
        return None
    errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
    return "; ".join(_describe(error) for error in errors[:3])


def _describe(error: ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > _MESSAGE_CHARS:
        message = message[:_MESSAGE_CHARS] + "..."
    return f"{where}: {message}" if where else message
