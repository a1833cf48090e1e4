"""SecretRedactor patterns, the redacting filter on messages and tracebacks, the JSON format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from snapagent.observability.logging import (
    JsonFormatter,
    RedactingFilter,
    SecretRedactor,
    bind_run_id,
    configured_logging,
    request_id_var,
    run_id_var,
)
from snapagent.observability.settings import ObservabilitySettings

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("key sa_0a1b2c3d_S3cr3tS3cr3t-x", "S3cr3tS3cr3t"),
        (f"token {JWT} rejected", "eyJzdWIiOiJ1MSJ9"),
        ("anthropic said: invalid x-api-key sk-ant-api03-abcdefgh123", "abcdefgh123"),
        ("aws AKIAABCDEFGHIJKLMNOP denied", "AKIAABCDEFGHIJKLMNOP"),
        ("Authorization: Bearer opaque.value-123", "opaque.value-123"),
        ('{"password": "correct horse battery"}', "correct horse"),
        ("login password=hunter2!&next=/", "hunter2"),
        ("postgresql+asyncpg://app:dbpass99@db:5432/x", "dbpass99"),
        ("configured value my-very-own-secret leaked", "my-very-own-secret"),
    ],
)
def test_redactor_masks(text: str, secret: str) -> None:
    redacted = SecretRedactor(["my-very-own-secret"]).redact(text)
    assert secret not in redacted
    assert "[redacted]" in redacted


def test_redactor_leaves_ordinary_text() -> None:
    text = "run 0123456789abcdef0123456789abcdef used input_tokens=5 in 12 ms"
    assert SecretRedactor(["short"]).redact(text) == text


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    return logging.LogRecord(
        "t", logging.ERROR, __file__, 1, message, args, (type(exc), exc, None) if exc else None
    )


def test_filter_and_json_format_mask_args_tracebacks_and_extras() -> None:
    redactor = SecretRedactor(["the-jwt-secret-value"])
    try:
        raise ValueError("bad key sk-abcdefghijkl")
    except ValueError as caught:
        record = _record("login %s with %s", "alice", "the-jwt-secret-value", exc=caught)
    record.detail = f"bearer {JWT}"
    record.color_message = "\x1b[1mlogin\x1b[0m"  # uvicorn's: terminal codes, not a field
    RedactingFilter(redactor).filter(record)
    token = request_id_var.set("req-1")
    bind_run_id("run-1")
    try:
        line = json.loads(JsonFormatter(redactor).format(record))
    finally:
        request_id_var.reset(token)
        run_id_var.set(None)
    assert line["message"] == "login alice with [redacted]"
    assert line["level"] == "ERROR"
    assert line["request_id"] == "req-1"
    assert line["run_id"] == "run-1"
    assert "sk-abcdefghijkl" not in line["exception"]
    assert "ValueError" in line["exception"]
    assert JWT not in line["detail"]
    assert "color_message" not in line


@pytest.fixture
def uvicorn_error_level_unset() -> Iterator[None]:
    """An in-process ``uvicorn.Config(log_level="error")`` of an earlier test (tests/api's
    schemathesis server) leaves uvicorn.error's own level at ERROR for the whole session, which
    would drop a warning before any handler saw it."""
    logger = logging.getLogger("uvicorn.error")
    level = logger.level
    logger.setLevel(logging.NOTSET)
    yield
    logger.setLevel(level)


@pytest.mark.usefixtures("uvicorn_error_level_unset")
def test_configured_logging_is_shared_and_restored(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    uvicorn_error = logging.getLogger("uvicorn.error")
    before = (list(root.handlers), root.level, list(uvicorn_error.handlers))
    text = ObservabilitySettings(log_format="text", log_level="DEBUG")
    with configured_logging(ObservabilitySettings(), ["hunter2-secret"]) as first:
        with configured_logging(text) as second:  # a second app in the process shares it
            assert second is first
            assert root.level == logging.INFO  # the first app's settings
        logging.getLogger("uvicorn.error").warning("login with hunter2-secret failed")
        assert first in root.handlers
    assert (list(root.handlers), root.level, list(uvicorn_error.handlers)) == before
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert line["logger"] == "uvicorn.error"
    assert line["message"] == "login with [redacted] failed"
    logging.getLogger("after").warning("not ours any more")
    assert capsys.readouterr().out == ""
