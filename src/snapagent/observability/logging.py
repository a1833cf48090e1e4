"""Structured logs: one JSON object per line, with the request id and run id, secrets masked.

The ids travel in context variables, so every line logged while a request is handled (by any
module, with plain ``logging``) carries ``request_id``, and every line of a chat run carries
``run_id`` too. :class:`SecretRedactor` masks API keys, JWTs, ``password=...`` pairs and the
configured secret values in the message, the exception text and extra fields.

    with configured_logging(ObservabilitySettings(), secrets=[jwt_secret]): ...
    token = request_id_var.set("abc")
    logging.getLogger("x").error("boom")   # {"level": "ERROR", ..., "request_id": "abc"}

A server process (`snapagent serve`) installs the handler before anything logs, with
:func:`process_log_config` (also handed to uvicorn as its ``log_config``, so every worker
process and uvicorn's own start-up and shut-down lines go through it): no plain-text line
ever interrupts the JSON log.
"""

from __future__ import annotations

import functools
import json
import logging
import logging.config
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from snapagent.log_context import bind_run_id, request_id_var, run_id_var
from snapagent.observability.log_writer import BufferedStdoutHandler
from snapagent.observability.settings import ObservabilitySettings

__all__ = [
    "JsonFormatter",
    "RedactingFilter",
    "SecretRedactor",
    "bind_run_id",
    "configured_logging",
    "env_secret_values",
    "process_handler",
    "process_log_config",
    "process_logging",
    "request_id_var",
    "run_id_var",
]


MASK = "[redacted]"
_SECRET_ENV_NAMES = ("KEY", "SECRET", "PASSWORD", "TOKEN", "DATABASE_URL")


def env_secret_values() -> list[str]:
    """Values never to log: every environment variable whose name looks secret."""
    return [v for k, v in os.environ.items() if any(n in k.upper() for n in _SECRET_ENV_NAMES)]


# Our API keys, JWTs, provider keys (Anthropic/OpenAI sk-..., AWS access key ids), bearer
# credentials, and `password`/`secret`/`api_key` assignments in text, JSON or URLs.
_PATTERNS = (
    re.compile(r"\bsa_[0-9a-fA-F]+_[A-Za-z0-9_\-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),
    re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    re.compile(r"(?i)(?<=bearer )[^\s\"',]+"),
    re.compile(
        r"(?i)((?:password|passwd|secret|api_key|apikey|token)[\"']?\s*[:=]\s*)"
        r"(?:\"[^\"]*\"|'[^']*'|[^\s\"',&}]+)"
    ),
    # user:password@host in database URLs
    re.compile(r"(?<=://)([^:/@\s]+:)[^@/\s]+(?=@)"),
)
# Text none of the patterns above can match lacks all of these (each pattern needs one of them,
# looked for here in the lower-cased text): most log lines - every access log line with an
# ordinary path - are cleared by these substring tests instead of seven regex scans.
_SECRET_HINTS = (
    "sa_",
    "eyj",
    "sk-",
    "akia",
    "asia",
    "bearer ",
    "passw",
    "secret",
    "api_key",
    "apikey",
    "token",
    "://",
)
# Record attributes that are not extra fields; uvicorn's color_message repeats the message
# with terminal escape codes.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


class SecretRedactor:
    """Masks key-shaped strings and the given secret values.

    >>> SecretRedactor(["hunter22"]).redact("password=hunter22 key sa_0a1b_xyz")
    'password=[redacted] key [redacted]'
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Short values would mask ordinary words; real secrets are long.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        lowered = text.lower()
        for hint in _SECRET_HINTS:  # a plain loop: half the time of any() over a generator
            if hint in lowered:
                break
        else:
            return text
        for pattern in _PATTERNS:
            text = pattern.sub(_mask_match, text)
        return text


def _mask_match(match: re.Match[str]) -> str:
    # Keep a captured prefix ("password=", "user:") and mask only the value.
    prefix = match.group(1) if match.re.groups else ""
    return f"{prefix}{MASK}"


class RedactingFilter(logging.Filter):
    """A handler filter: the record's message and exception text leave redacted."""

    def __init__(self, redactor: SecretRedactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.redact(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, extras, exception.

    Written for the access log's rate (a line per request): one encoder built once, the
    timestamp's date and time formatted once per second, the record's attributes filtered by
    one set lookup each. :meth:`format_fields` writes the same line without a record.
    """

    def __init__(self, redactor: SecretRedactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or SecretRedactor()
        self._second = -1
        self._second_text = ""

    def _time(self, created: float) -> str:
        """``2026-01-02T03:04:05.678+00:00``: ISO 8601, UTC, milliseconds (truncated)."""
        second = int(created)
        if second != self._second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._second_text = second, stamp
        millis = min(int((created - second) * 1000), 999)
        return f"{self._second_text}.{millis:03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            "run_id": run_id_var.get(),
        }
        redact = self.redactor.redact
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in line and not key.startswith("_"):
                line[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = redact(record.exc_text)
        if record.stack_info:
            line["stack"] = record.stack_info
        return _ENCODER.encode(line)

    def format_fields(
        self,
        created: float,
        levelname: str,
        name: str,
        message: str,
        fields: Mapping[str, object],
    ) -> str:
        """The text :meth:`format` makes of a record with these attributes and ``fields`` as
        its extra attributes (no exception, no stack; ``message`` already redacted, as the
        redacting filter leaves it), written directly: ``format`` builds a dict, and the JSON
        encoder sets itself up again on every call - several microseconds per line.
        """
        text = (
            f'{{"time": "{self._time(created)}", "level": {_json(levelname)}, '
            f'"logger": {_json(name)}, "message": {_json(message)}, '
            f'"request_id": {_json(request_id_var.get())}, "run_id": {_json(run_id_var.get())}'
        )
        redact = self.redactor.redact
        for key, value in fields.items():
            prefix = _field_prefix(key)
            if prefix is not None:
                text += prefix + _json(redact(value) if isinstance(value, str) else value)
        return text + "}"


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
_HEAD_KEYS = frozenset(("time", "level", "logger", "message", "request_id", "run_id"))


@functools.lru_cache(maxsize=256)
def _field_prefix(key: str) -> str | None:
    """``, "key": `` for an extra field :meth:`JsonFormatter.format` writes, None for one it
    leaves out (field names come from code: a handful, remembered)."""
    if key in _STANDARD_ATTRS or key in _HEAD_KEYS or key.startswith("_"):
        return None
    return f", {_json(key)}: "


def _json(value: object) -> str:
    """``value`` as `_ENCODER` writes it; the common types without the encoder's set-up."""
    if value is None:
        return "null"
    if type(value) is str:
        return encode_basestring(value)
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    return _ENCODER.encode(value)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(
            f"{name}={value}"
            for name, value in (("request_id", request_id_var.get()), ("run_id", run_id_var.get()))
            if value
        )
        text = super().format(record)
        return f"{text} [{ids}]" if ids else text


class _StdoutHandler(logging.Handler):
    """Writes to whatever ``sys.stdout`` is now (test runners swap it between tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


_HANDLER_NAME = "snapagent-observability"
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _handler(
    settings: ObservabilitySettings, redactor: SecretRedactor, *, buffered: bool = False
) -> logging.Handler:
    handler: logging.Handler
    if buffered and settings.log_buffer_lines > 0:
        handler = BufferedStdoutHandler(settings.log_buffer_lines)
    else:
        handler = _StdoutHandler()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter(redactor))
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter(redactor))
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def process_handler() -> logging.Handler:
    """The handler of a whole server process, from the environment's settings (a
    ``logging.config.dictConfig`` factory: uvicorn's worker processes build it themselves).

    It writes through a bounded buffer and a writer thread (`BufferedStdoutHandler`), so a
    slow stdout never blocks the event loop; ``SNAPAGENT_LOG_BUFFER_LINES=0`` writes each line
    synchronously instead."""
    return _handler(ObservabilitySettings(), SecretRedactor(env_secret_values()), buffered=True)


def process_log_config() -> dict[str, Any]:
    """A ``dictConfig`` that puts :func:`process_handler` on the root logger and sends
    uvicorn's loggers through it; pass it to ``uvicorn.run(log_config=...)`` too."""
    level = ObservabilitySettings().log_level
    uvicorn = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        # Keyed by the handler's name: dictConfig names handlers after their key, and
        # configured_logging recognises the installed handler by it.
        "handlers": {_HANDLER_NAME: {"()": f"{__name__}.process_handler"}},
        "root": {"handlers": [_HANDLER_NAME], "level": level},
        "loggers": {name: dict(uvicorn) for name in _UVICORN_LOGGERS},
    }


@contextmanager
def process_logging(config: dict[str, Any] | None = None) -> Iterator[None]:
    """``config`` (default :func:`process_log_config`) applied while the block runs (a server
    command), and the previous root and uvicorn loggers put back after (tests run commands
    in-process)."""
    root = logging.getLogger()
    saved = [(root, list(root.handlers), root.level, root.propagate)]
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, list(logger.handlers), logger.level, logger.propagate))
    logging.config.dictConfig(config or process_log_config())
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.flush()  # a buffered handler's lines reach stdout before the command ends
        for logger, handlers, level, propagate in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate


class _LoggingState:
    """What :func:`configured_logging` changed, to put back when the last app stops."""

    def __init__(self) -> None:
        self.users = 0
        self.owned = True
        self.handler: logging.Handler | None = None
        self.root_level = logging.WARNING
        self.uvicorn: list[tuple[logging.Logger, list[logging.Handler], bool, bool]] = []


_state = _LoggingState()


@contextmanager
def configured_logging(
    settings: ObservabilitySettings, secrets: Iterable[str | None] = ()
) -> Iterator[logging.Handler]:
    """Our handler on the root logger while the block runs (an app's lifespan).

    uvicorn's loggers are routed through it too (its access log is replaced by ours). Apps
    running at once in one process (tests) share the first one's handler; when the last one
    leaves, the previous logging setup is restored, so nothing leaks into later code.
    """
    root = logging.getLogger()
    if _state.users == 0:
        # A server process installed its handler already (process_log_config): share it.
        installed = next((h for h in root.handlers if h.get_name() == _HANDLER_NAME), None)
        _state.owned = installed is None
        handler = installed or _handler(settings, SecretRedactor(secrets))
        _state.handler, _state.root_level = handler, root.level
        _state.uvicorn = []
        for name in _UVICORN_LOGGERS:
            logger = logging.getLogger(name)
            _state.uvicorn.append(
                (logger, list(logger.handlers), logger.propagate, logger.disabled)
            )
            logger.handlers.clear()
            logger.propagate = True
        logging.getLogger("uvicorn.access").disabled = True
        if _state.owned:
            root.addHandler(handler)
        root.setLevel(settings.log_level)
    _state.users += 1
    assert _state.handler is not None
    try:
        yield _state.handler
    finally:
        _state.users -= 1
        if _state.users == 0 and _state.handler is not None:
            if _state.owned:
                root.removeHandler(_state.handler)
            root.setLevel(_state.root_level)
            for logger, handlers, propagate, disabled in _state.uvicorn:
                logger.handlers[:] = handlers
                logger.propagate, logger.disabled = propagate, disabled
            _state.handler = None
