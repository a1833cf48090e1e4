"""The access line: written straight into our buffered handler when the logging config is
exactly ours, through ``logging`` otherwise - the same text, levels, redaction and bound."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from snapagent.log_context import request_id_var, run_id_var
from snapagent.observability.access_log import AccessLog
from snapagent.observability.log_writer import BufferedStdoutHandler
from snapagent.observability.logging import process_handler, process_logging

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"
HOSTILE_PATHS = [
    "/health",
    '/quote"back\\slash',
    "/ünïcødé/😀",
    "/ctrl\x01\x1f\ttab",
    "/login?password=hunter22&next=/",
    "/k/sa_0a1b2c3d_S3cr3tS3cr3t-x",
    "/bearer opaque.value-123",
    f"/t/{JWT}",
    "/s/my-very-own-secret-value",
]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[BufferedStdoutHandler]:
    """The handler a server process installs (its secrets from the environment), on a logger
    of its own, its writes collected in ``handler.written``."""
    monkeypatch.setenv("SNAPAGENT_TEST_SECRET", "my-very-own-secret-value")
    installed = process_handler()
    assert isinstance(installed, BufferedStdoutHandler)
    written: list[str] = []
    installed.buffer._write = written.append  # stdout, replaced for the test
    installed.written = written  # type: ignore[attr-defined]
    yield installed
    installed.flush()


@pytest.fixture
def logger(handler: BufferedStdoutHandler) -> Iterator[logging.Logger]:
    logger = logging.getLogger("test.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    yield logger
    logger.removeHandler(handler)
    logger.filters.clear()
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def ours_alone(
    logger: logging.Logger, handler: BufferedStdoutHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only our handler on ``logger`` (pytest adds its capturing ones to every logger)."""
    monkeypatch.setattr(logger, "handlers", [handler])


def lines(handler: BufferedStdoutHandler) -> list[str]:
    assert handler.buffer.flush(timeout_s=10)
    return "".join(handler.written).splitlines()  # type: ignore[attr-defined]


def no_records(*args: object, **kwargs: object) -> logging.LogRecord:
    raise AssertionError("the direct path makes no LogRecord")


@pytest.mark.parametrize("path", HOSTILE_PATHS)
@pytest.mark.parametrize(("status", "run_id"), [(200, None), (503, "run-7")])
def test_the_direct_line_is_the_text_logging_writes(
    logger: logging.Logger,
    handler: BufferedStdoutHandler,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    status: int,
    run_id: str | None,
) -> None:
    ours_alone(logger, handler, monkeypatch)
    monkeypatch.setattr(time, "time", lambda: 1_765_000_000.123456)
    request = request_id_var.set("req-1")
    run = run_id_var.set(run_id)
    access = AccessLog(logger)
    try:
        with monkeypatch.context() as direct_only:
            direct_only.setattr(logger, "makeRecord", no_records)
            access.write("GET", path, "/health", status, 0.0123456)
        logger.addFilter(lambda record: True)  # anything not ours: the line goes via logging
        access.write("GET", path, "/health", status, 0.0123456)
    finally:
        request_id_var.reset(request)
        run_id_var.reset(run)
    direct, through_logging = lines(handler)
    assert direct == through_logging
    line = json.loads(direct)
    assert list(line) == [
        *("time", "level", "logger", "message", "request_id", "run_id"),
        *("method", "route", "status", "duration_ms"),
    ]
    assert line["level"] == ("ERROR" if status >= 500 else "INFO")
    assert (line["request_id"], line["run_id"]) == ("req-1", run_id)
    assert (line["status"], line["duration_ms"]) == (status, 12.35)
    for secret in ("hunter22", "S3cr3tS3cr3t", "opaque.value-123", JWT, "my-very-own"):
        assert secret not in direct


def test_levels_are_kept_on_the_direct_path(
    logger: logging.Logger, handler: BufferedStdoutHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours_alone(logger, handler, monkeypatch)
    monkeypatch.setattr(logger, "makeRecord", no_records)
    access = AccessLog(logger)
    logger.setLevel(logging.WARNING)  # SNAPAGENT_LOG_LEVEL=WARNING: only 5xx lines
    access.write("GET", "/a", "/a", 200, 0.001)
    access.write("GET", "/b", "/b", 500, 0.001)
    logger.setLevel(logging.INFO)
    handler.setLevel(logging.ERROR)  # a handler's level is kept too
    access.write("GET", "/c", "/c", 200, 0.001)
    access.write("GET", "/d", "/d", 503, 0.001)
    handler.setLevel(logging.NOTSET)
    logging.disable(logging.CRITICAL)
    try:
        access.write("GET", "/e", "/e", 500, 0.001)
    finally:
        logging.disable(logging.NOTSET)
    assert [json.loads(x)["route"] for x in lines(handler)] == ["/b", "/d"]


def test_the_direct_path_goes_through_the_bounded_buffer(
    logger: logging.Logger, handler: BufferedStdoutHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours_alone(logger, handler, monkeypatch)
    monkeypatch.setattr(logger, "makeRecord", no_records)
    entered, release = threading.Event(), threading.Event()
    written: list[str] = handler.written  # type: ignore[attr-defined]

    def stuck(text: str) -> None:  # a stdout nobody reads, until released
        entered.set()
        assert release.wait(10)
        written.append(text)

    handler.buffer._write = stuck
    handler.buffer.capacity = 2
    access = AccessLog(logger)
    access.write("GET", "/first", "/first", 200, 0.001)
    assert entered.wait(10)  # the writer is stuck writing the first line
    for n in range(5):
        access.write("GET", f"/{n}", "/n", 200, 0.001)  # returns at once
    assert handler.buffer.pending() == 2
    release.set()
    out = lines(handler)
    assert [json.loads(x)["message"] for x in out[:3]] == [
        "GET /first -> 200 in 1.0 ms",
        "GET /0 -> 200 in 1.0 ms",
        "GET /1 -> 200 in 1.0 ms",
    ]
    assert json.loads(out[3])["dropped_lines"] == 3


def test_lines_go_wherever_the_logging_config_sends_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server process's own config: the access logger's lines reach the root's handler only.
    access = AccessLog(logging.getLogger("snapagent.access"))
    extra = Collect()
    parent = logging.getLogger("snapagent")
    with process_logging():
        with monkeypatch.context() as direct_only:
            direct_only.setattr(access.logger, "makeRecord", no_records)
            access.write("GET", "/direct", "/direct", 200, 0.001)
        # An operator's handler on the way: both it and ours get the line, through logging.
        parent.addHandler(extra)
        try:
            access.write("POST", "/both", "/both", 201, 0.001)
        finally:
            parent.removeHandler(extra)
        # A filter on the access logger that drops its lines drops them everywhere.
        access.logger.addFilter(lambda record: False)
        try:
            access.write("GET", "/filtered", "/filtered", 200, 0.001)
        finally:
            access.logger.filters.clear()
        # Another handler in place of ours (a log_config of the operator's): only it.
        root = logging.getLogger()
        ours = list(root.handlers)
        root.handlers[:] = [extra]
        try:
            access.write("GET", "/theirs", "/theirs", 200, 0.001)
        finally:
            root.handlers[:] = ours
    routes = [json.loads(x)["route"] for x in capsys.readouterr().out.splitlines()]
    assert routes == ["/direct", "/both"]
    assert [(r.route, r.status) for r in extra.records] == [  # type: ignore[attr-defined]
        ("/both", 201),
        ("/theirs", 200),
    ]
