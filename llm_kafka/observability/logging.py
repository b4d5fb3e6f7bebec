"""Logging helpers: secret redaction, rate-limiting of repeated lines, and a JSON formatter.

llm-kafka logs through the standard ``logging`` module with one logger per module, under
``llm_kafka``. ``configure_logging`` installs one handler on the root logger with the
filters below; an application with its own handlers adds ``RedactingFilter`` and
``RateLimitFilter`` to them instead. Filters on a handler see the records of every logger
that propagates to it, which is why they go on handlers and not on loggers.
"""

from __future__ import annotations

import datetime
import json as json_module
import logging
import re
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import IO, Any

from opentelemetry import trace

_MASK = "**********"

# Credentials that appear in text: key=value pairs of librdkafka and HTTP settings,
# Authorization headers, and the key formats of the OpenAI and Anthropic APIs.
_SECRET_PATTERNS = (
    re.compile(
        r"""(?P<prefix>(?:sasl\.password|ssl\.key\.password|ssl\.keystore\.password|sasl\.oauthbearer\.client\.secret|"""
        r"""password|passwd|api[_-]?key|secret|token)["']?\s*[:=]\s*["']?)(?P<secret>[^\s"',;}]+)""",
        re.IGNORECASE,
    ),
    re.compile(r"(?P<prefix>\b(?:Bearer|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=-]{8,})", re.IGNORECASE),
    re.compile(r"(?P<prefix>)(?P<secret>\bsk-[A-Za-z0-9_-]{16,})"),
)

_known_secrets: set[str] = set()
_known_secrets_lock = threading.Lock()

# Shorter values are not registered: masking "abc" would garble unrelated text.
_MIN_SECRET_LENGTH = 6


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it appears in log records that pass a ``RedactingFilter``."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _known_secrets_lock:
            _known_secrets.add(value)


def register_secrets(values: Iterable[str]) -> None:
    """Register each of ``values`` with ``register_secret``."""
    for value in values:
        register_secret(value)


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and credential-like patterns masked."""
    with _known_secrets_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for secret in known:
        text = text.replace(secret, _MASK)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda match: f"{match.group('prefix')}{_MASK}", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and exception text; never drops a record.

    The message is formatted once here (``msg % args``) and the result stored back, so
    handlers after this filter see the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message or record.args:
            record.msg = redacted
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RateLimitFilter(logging.Filter):
    """Lets through at most ``burst`` records per logger, level and message template each ``period_s``.

    Repeats past the limit are counted and dropped. The first record let through after
    a window with drops reports how many were dropped. Only the ``max_keys`` most recently
    seen templates are tracked, so memory stays bounded. ``burst`` 0 turns the limit off.
    """

    def __init__(
        self, burst: int = 10, period_s: float = 60.0, max_keys: int = 1000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.burst = burst
        self.period_s = period_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        # key -> [window start, records let through in the window, records dropped]
        self._windows: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.burst <= 0:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self.period_s:
                dropped = int(window[2]) if window is not None else 0
                self._windows[key] = [now, 1, 0]
                self._windows.move_to_end(key)
                while len(self._windows) > self.max_keys:
                    self._windows.popitem(last=False)
                if dropped:
                    record.msg = (
                        f"{record.getMessage()} ({dropped} similar lines suppressed in the last {self.period_s:.0f}s)"
                    )
                    record.args = None
                return True
            if window[1] < self.burst:
                window[1] += 1
                return True
            window[2] += 1
            return False


# LogRecord attributes that are not user extras; everything else on a record is an extra.
_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Formats each record as one JSON object per line, for log shippers.

    Fields: ``timestamp`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``thread``,
    ``exception`` when there is one, ``trace_id`` and ``span_id`` of the current span when
    there is one, and every ``extra={...}`` field. A message that names a record the usual
    way (``topic=orders partition=3 offset=41 id=m-1``, from ``RecordInfo.describe``) also
    gets ``topic``, ``partition``, ``offset`` and ``message_id`` fields, unless extras set
    them. Values JSON cannot encode are written as their ``str``.
    """

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            document["trace_id"] = format(span_context.trace_id, "032x")
            document["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        for name, value in vars(record).items():
            if name not in _STANDARD_ATTRIBUTES and name not in document:
                document[name] = value
        for name, value in _record_identity(document["message"]).items():
            document.setdefault(name, value)
        return json_module.dumps(document, default=str, ensure_ascii=False)


# The identity RecordInfo.describe writes into every log line about a message.
_RECORD_IDENTITY = re.compile(r"\btopic=(\S+) partition=(\d+) offset=(\d+) id=(\S+)")


def _record_identity(message: str) -> dict[str, Any]:
    match = _RECORD_IDENTITY.search(message)
    if match is None:
        return {}
    topic, partition, offset, message_id = match.groups()
    identity: dict[str, Any] = {"topic": topic, "partition": int(partition), "offset": int(offset)}
    if message_id != "-":
        identity["message_id"] = message_id
    return identity


_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


_CHATTY_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2")


def configure_logging(
    level: int | str = "INFO",
    json: bool = False,
    *,
    repeats_per_minute: int = 10,
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Send log records to ``stream`` (stderr by default) with redaction and rate-limiting.

    Replaces the handlers on the root logger, sets its level to ``level``, and returns the
    new handler. ``json`` selects ``JsonFormatter``; otherwise lines read
    ``time LEVEL logger: message``. ``repeats_per_minute`` is the ``RateLimitFilter``
    burst, 0 for no limit. Call it once, at program start.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    # Rate-limit first: it keys on the message template, which redaction replaces with the text.
    handler.addFilter(RateLimitFilter(burst=repeats_per_minute, period_s=60.0))
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(_TEXT_FORMAT))

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # The HTTP clients under the provider SDKs log every request at INFO; llm-kafka's own
    # metrics and spans already count calls, so keep them to warnings.
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
