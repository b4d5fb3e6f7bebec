"""Logging helpers: secrets are masked, repeats are limited, JSON lines parse."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from llm_kafka.config import KafkaSettings
from llm_kafka.observability.logging import (
    JsonFormatter,
    RateLimitFilter,
    RedactingFilter,
    configure_logging,
    redact,
    register_secret,
)
from llm_kafka.processor import RecordInfo


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("config {'sasl.password': 'p4ss-word'}", "p4ss-word"),
        ("sasl.password=p4ss-word", "p4ss-word"),
        ("ssl.key.password: 'k3y-pass'", "k3y-pass"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9"),
        ("calling with key sk-proj-abcdefghijklmnopqrstuv", "sk-proj-abcdefghijklmnopqrstuv"),
        ("api_key='abc123def456'", "abc123def456"),
    ],
)
def test_redact_masks_credential_patterns(text: str, secret: str) -> None:
    redacted = redact(text)

    assert secret not in redacted
    assert "**********" in redacted


def test_redact_leaves_plain_text() -> None:
    text = "topic=orders partition=3 offset=41 id=m-1"

    assert redact(text) == text


def test_registered_secret_is_masked_in_arguments(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    register_secret("opaque-value-991")

    logger.info("connecting with %s", "opaque-value-991")

    assert "opaque-value-991" not in stream.getvalue()
    assert "connecting with **********" in stream.getvalue()


def test_settings_repr_in_log_hides_password(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    kafka = KafkaSettings(bootstrap_servers="b:1", group_id="g", consumer={"sasl.password": "in-dict-secret"})

    logger.info("settings %r and config %s", kafka, kafka.consumer)

    assert "in-dict-secret" not in stream.getvalue()


def test_exception_text_is_redacted(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    try:
        raise RuntimeError("login failed for sasl.password=leaked-pw")
    except RuntimeError:
        logger.exception("connect failed")

    assert "leaked-pw" not in stream.getvalue()
    assert "RuntimeError" in stream.getvalue()


def test_rate_limit_drops_repeats_and_reports_count() -> None:
    now = [0.0]
    limit = RateLimitFilter(burst=2, period_s=60.0, clock=lambda: now[0])

    results = [limit.filter(make_record("retrying %s", offset)) for offset in range(5)]
    now[0] = 61.0
    after = make_record("retrying %s", 99)
    passed = limit.filter(after)

    assert results == [True, True, False, False, False]
    assert passed
    assert after.getMessage() == "retrying 99 (3 similar lines suppressed in the last 60s)"


def test_rate_limit_keys_by_template() -> None:
    limit = RateLimitFilter(burst=1, period_s=60.0)

    assert limit.filter(make_record("first %s", 1))
    assert limit.filter(make_record("second %s", 1))
    assert not limit.filter(make_record("first %s", 2))


def test_rate_limit_zero_burst_passes_everything() -> None:
    limit = RateLimitFilter(burst=0)

    assert all(limit.filter(make_record("same", None)) for _ in range(100))


def test_json_formatter_writes_one_object_per_line() -> None:
    record = make_record("processed %s", "m-1")
    record.topic = "orders"
    record.offset = 41

    document = json.loads(JsonFormatter().format(record))

    assert document["message"] == "processed m-1"
    assert document["level"] == "INFO"
    assert document["logger"] == "test.rate"
    assert document["topic"] == "orders"
    assert document["offset"] == 41
    assert document["timestamp"].endswith("+00:00")


def test_json_formatter_adds_current_trace_id() -> None:
    tracer = TracerProvider().get_tracer("test")

    with tracer.start_as_current_span("work") as span:
        document = json.loads(JsonFormatter().format(make_record("inside", None)))

    assert document["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_configure_logging_json_redacts(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    previous = (list(root.handlers), root.level)
    try:
        configure_logging("DEBUG", json=True, stream=stream)
        logging.getLogger("llm_kafka.test").warning("bad login sasl.password=%s", "pw-in-args")
    finally:
        root.handlers[:] = previous[0]
        root.setLevel(previous[1])

    document = json.loads(stream.getvalue().splitlines()[0])
    assert document["message"] == "bad login sasl.password=**********"
    assert document["logger"] == "llm_kafka.test"


def make_record(message: str, argument: object) -> logging.LogRecord:
    args = () if argument is None else (argument,)
    return logging.LogRecord("test.rate", logging.INFO, __file__, 1, message, args, None)


def test_json_formatter_reads_record_identity() -> None:
    record = make_record("message failed: %s", RecordInfo("orders", 3, 41).describe("m-1"))

    document = json.loads(JsonFormatter().format(record))

    assert document["topic"] == "orders"
    assert document["partition"] == 3
    assert document["offset"] == 41
    assert document["message_id"] == "m-1"


def test_json_formatter_extras_win_over_identity() -> None:
    record = make_record("retrying %s", RecordInfo("orders", 3, 41).describe())
    record.topic = "from-extra"

    document = json.loads(JsonFormatter().format(record))

    assert document["topic"] == "from-extra"
    assert "message_id" not in document
