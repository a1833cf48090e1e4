"""The access log line: one per request, so it is written the cheap way when it safely can be.

Through ``logging`` a line costs about 16 us of CPU: a `LogRecord` with its two dozen
attributes, the redacting filter formatting the message, the JSON formatter walking every
attribute and setting up the JSON encoder. On ``GET /health`` that was a third of the app's own
time. When the ``snapagent.access`` logger's lines would reach exactly the handler we install
and nothing else - our `BufferedStdoutHandler` with our `RedactingFilter` and `JsonFormatter`,
no filter on any logger on the way, no other handler, the default record factory -
:class:`AccessLog` writes the very same JSON text (same fields, order and redaction) straight
into that handler's bounded buffer (full: dropped and counted, as every line). In every other
configuration (an operator's handler or filter, the text format, the unbuffered handler of
``SNAPAGENT_LOG_BUFFER_LINES=0``) the line goes through ``logging`` as before. Levels are
checked the same way in both: the logger's level (``SNAPAGENT_LOG_LEVEL``) and
``logging.disable`` by ``isEnabledFor``, then the handler's level.

    access = AccessLog(logging.getLogger("snapagent.access"))
    access.write("GET", "/health", "/health", 200, 0.0003)
"""

from __future__ import annotations

import logging
import time

from snapagent.observability.log_writer import BufferedStdoutHandler
from snapagent.observability.logging import JsonFormatter, RedactingFilter

__all__ = ["AccessLog"]

_MESSAGE = "%s %s -> %d in %.1f ms"


class AccessLog:
    """Writes a request's access line (5xx at ERROR, the rest at INFO) to ``logger``."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, method: str, path: str, route: str, status: int, seconds: float) -> None:
        logger = self.logger
        level = logging.ERROR if status >= 500 else logging.INFO
        if not logger.isEnabledFor(level):
            return
        args = (method, path, status, seconds * 1000)
        fields = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        }
        route_to = _installed_handler_alone(logger)
        if route_to is not None:
            handler, redacting, formatter = route_to
            if level < handler.level:
                return
            message = redacting.redactor.redact(_MESSAGE % args)
            created = time.time()
            line = formatter.format_fields(
                created, logging.getLevelName(level), logger.name, message, fields
            )
            handler.buffer.put(line + "\n")
            return
        # The record made directly: Logger.log would walk the stack for the caller's file and
        # line, which the line does not show.
        record = logger.makeRecord(
            logger.name, level, __file__, 0, _MESSAGE, args, None, extra=fields
        )
        logger.handle(record)


_Route = tuple[BufferedStdoutHandler, RedactingFilter, JsonFormatter]


def _installed_handler_alone(logger: logging.Logger) -> _Route | None:
    """The handler (with its filter and formatter) that alone would receive ``logger``'s
    lines, if it is the one we install (`logging.process_handler`) and nothing on
    the way could filter or change a record; None otherwise."""
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: _Route | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters:
            return None
        for handler in current.handlers:
            if found is not None:
                return None
            filters, formatter = handler.filters, handler.formatter
            if (
                type(handler) is not BufferedStdoutHandler
                or type(formatter) is not JsonFormatter
                or len(filters) != 1
                or type(filters[0]) is not RedactingFilter
            ):
                return None
            found = (handler, filters[0], formatter)
        if not current.propagate:
            break
        current = current.parent
    return found
