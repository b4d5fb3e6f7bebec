"""Trace context through Kafka headers, and the span that covers one record's processing.

Kafka carries no trace context of its own, so the producer of a record writes W3C
``traceparent`` and ``tracestate`` headers and the consumer reads them. ``MessageTracer``
reads them from an input record, starts the processing span as their child, and writes the
span's context into the headers of the output or dead-letter record. A missing or malformed
header starts a new trace. The propagator is the global OpenTelemetry one: W3C trace
context and baggage, unless ``OTEL_PROPAGATORS`` sets others.

Span and attribute names follow the OpenTelemetry messaging conventions for Kafka
(semantic conventions 1.30 and later): ``messaging.system``, ``messaging.destination.name``,
``messaging.destination.partition.id``, ``messaging.kafka.offset`` and so on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter, Setter

from llm_kafka.processor import RecordInfo

logger = logging.getLogger(__name__)

TRACER_NAME = "llm_kafka"

KafkaHeaders = Sequence[tuple[str, bytes | str | None]]


class _HeaderGetter(Getter[KafkaHeaders]):
    """Reads text-map keys from Kafka headers; the last header of a name wins.

    Kafka allows repeated header names. An output record carries its input's headers
    followed by its own, so the last ``traceparent`` is the most recent hop's.
    """

    def get(self, carrier: KafkaHeaders, key: str) -> list[str] | None:
        value = None
        for name, raw in carrier:
            if name.lower() == key and raw is not None:
                value = raw
        if value is None:
            return None
        if isinstance(value, bytes):
            # Undecodable bytes become U+FFFD, which fails the propagator's format check,
            # so the record starts a new trace instead of failing.
            return [value.decode("utf-8", errors="replace")]
        return [value]

    def keys(self, carrier: KafkaHeaders) -> list[str]:
        return [name for name, _ in carrier]


class _DictSetter(Setter[dict[str, str]]):
    def set(self, carrier: dict[str, str], key: str, value: str) -> None:
        carrier[key] = value


HEADER_GETTER = _HeaderGetter()
_DICT_SETTER = _DictSetter()


def extract_context(headers: KafkaHeaders) -> otel_context.Context:
    """Return the context carried by Kafka ``headers``, or an empty one when it is missing or invalid."""
    try:
        return propagate.extract(headers, getter=HEADER_GETTER, context=otel_context.Context())
    except Exception as error:  # a third-party propagator must not fail the message
        logger.warning("ignoring unreadable trace context headers: %s: %s", type(error).__name__, error)
        return otel_context.Context()


def trace_headers(context: otel_context.Context | None = None) -> tuple[tuple[str, bytes], ...]:
    """Return the propagation headers (``traceparent``, ...) of ``context``, or of the current one."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context, setter=_DICT_SETTER)
    return tuple((name, value.encode("utf-8")) for name, value in carrier.items())


def replace_trace_headers(
    headers: KafkaHeaders, context: otel_context.Context | None = None
) -> list[tuple[str, bytes | str | None]]:
    """Return ``headers`` without propagation headers, followed by those of ``context``.

    Returns ``headers`` unchanged when ``context`` has nothing to propagate (no SDK
    installed, or no valid span), so an existing trace is never dropped.
    """
    added = trace_headers(context)
    if not added:
        return list(headers)
    names = {name for name, _ in added} | set(propagate.get_global_textmap().fields)
    kept = [(name, value) for name, value in headers if name.lower() not in names]
    return [*kept, *added]


def _message_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None  # the conventions ask for no value when a key has no canonical string form


class MessageTracer:
    """Starts one consumer span per record, as the child of the record's trace context.

    ``consumer_group`` is written as ``messaging.consumer.group.name``. ``tracer_provider``
    defaults to the global OpenTelemetry one; with no SDK installed the spans are no-ops
    and the headers written are empty.
    """

    def __init__(self, consumer_group: str | None = None, tracer_provider: trace.TracerProvider | None = None) -> None:
        self.consumer_group = consumer_group
        self._tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)

    @contextmanager
    def process_span(self, record: RecordInfo) -> Iterator[trace.Span]:
        """Start the ``process <topic>`` span for ``record`` and make it current inside the block.

        The block's exceptions propagate; the span records them and ends with error status.
        Context variables carry the span, so plain hooks run through
        ``contextvars.copy_context()`` and async hooks awaited in the block see it too.
        """
        parent = extract_context(record.headers)
        parent_span = trace.get_current_span(parent).get_span_context()
        links = [trace.Link(parent_span)] if parent_span.is_valid else []
        with self._tracer.start_as_current_span(
            f"process {record.topic}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes=self._attributes(record),
            links=links,
        ) as span:
            yield span

    def _attributes(self, record: RecordInfo) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        }
        if self.consumer_group is not None:
            attributes["messaging.consumer.group.name"] = self.consumer_group
        key = _message_key(record.key)
        if key is not None:
            attributes["messaging.kafka.message.key"] = key
        return attributes


def record_outcome(span: trace.Span, *, processor: str, message_id: str | None, error: BaseException | None) -> None:
    """Write the processor, message id and any error onto ``span``."""
    span.set_attribute("llm_kafka.processor", processor)
    if message_id is not None:
        span.set_attribute("llm_kafka.message.id", message_id)
    if error is None:
        return
    span.record_exception(error)
    span.set_attribute("error.type", type(error).__name__)
    span.set_status(trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}"))
