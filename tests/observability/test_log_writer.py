"""The server's log lines go through a bounded buffer and a writer thread: a stuck stdout never
blocks the logging caller (the event loop); lines beyond the buffer are dropped and reported."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from snapagent.observability.log_writer import BufferedStdoutHandler, LineBuffer
from snapagent.observability.logging import JsonFormatter, process_handler


class StuckStdout:
    """A writer that blocks in ``write`` until released, like a pipe nobody reads."""

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, text: str) -> None:
        self.entered.set()
        assert self.release.wait(10)
        self.writes.append(text)


def test_a_full_buffer_drops_and_counts_instead_of_blocking() -> None:
    stdout = StuckStdout()
    buffer = LineBuffer(3, stdout, lambda count: f"dropped {count}\n")
    buffer.put("a\n")
    assert stdout.entered.wait(10)  # the writer is stuck inside write("a\n")
    for line in ("b\n", "c\n", "d\n", "e\n", "f\n"):
        buffer.put(line)  # returns at once: nothing here waits for the writer
    assert buffer.pending() == 3
    stdout.release.set()
    assert buffer.flush(timeout_s=10)
    # What waited went out in one write, followed by the count of what was dropped.
    assert stdout.writes == ["a\n", "b\nc\nd\ndropped 2\n"]
    buffer.put("g\n")
    assert buffer.flush(timeout_s=10)
    assert stdout.writes[-1] == "g\n"


def test_flush_gives_up_after_its_timeout_on_a_stuck_stdout() -> None:
    stdout = StuckStdout()
    buffer = LineBuffer(10, stdout, lambda count: f"dropped {count}\n")
    buffer.put("a\n")
    assert stdout.entered.wait(10)
    assert buffer.flush(timeout_s=0.05) is False
    stdout.release.set()
    assert buffer.flush(timeout_s=10)


def test_the_handler_writes_json_lines_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    handler = BufferedStdoutHandler(capacity=100)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.buffered")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(5):
            logger.warning("line %d", n, extra={"route": "/health"})
        handler.flush()
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [line["message"] for line in lines] == [f"line {n}" for n in range(5)]
    assert lines[0]["route"] == "/health"


def test_a_server_process_buffers_unless_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(process_handler(), BufferedStdoutHandler)
    monkeypatch.setenv("SNAPAGENT_LOG_BUFFER_LINES", "0")
    assert not isinstance(process_handler(), BufferedStdoutHandler)


def test_uvicorn_lifecycle_lines_are_written_before_logging_returns() -> None:
    # After SIGTERM uvicorn re-raises the signal and the process dies without exit handlers:
    # its shut-down lines must not wait in the buffer.
    written: list[str] = []
    handler = BufferedStdoutHandler(capacity=100)
    handler.buffer._write = written.append  # stdout, replaced for the test
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    access = logging.LogRecord("snapagent.access", logging.INFO, __file__, 0, "GET /", (), None)
    done = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 0, "Application shutdown complete.", (), None
    )
    handler.handle(access)
    handler.handle(done)
    assert (
        "".join(written) == "snapagent.access GET /\nuvicorn.error Application shutdown complete.\n"
    )
