"""Tracing: the processing span continues the record's trace and hands it to the output."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_kafka.engine.handler import (
    Failure,
    MessageHandler,
    Outcome,
    ProcessorRouter,
    Success,
)
from llm_kafka.messages import MessageFormat
from llm_kafka.observability.tracing import (
    MessageTracer,
    extract_context,
    replace_trace_headers,
)
from llm_kafka.processor import BaseProcessor, ProcessingContext, RecordInfo

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01".encode()


def global_provider() -> TracerProvider:
    """Return the process's SDK tracer provider, installing one the first time."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return provider


_EXPORTER = InMemorySpanExporter()
global_provider().add_span_processor(SimpleSpanProcessor(_EXPORTER))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


class CallsModel(BaseProcessor):
    """Opens an ``llm call`` span with the OpenTelemetry API, as an LLM client would."""

    def process(self, data: Any, context: ProcessingContext) -> Any:
        with trace.get_tracer("test-llm").start_as_current_span("llm call"):
            return {"echo": data}


class AsyncCallsModel(BaseProcessor):
    async def process(self, data: Any, context: ProcessingContext) -> Any:
        await asyncio.sleep(0)
        with trace.get_tracer("test-llm").start_as_current_span("llm call"):
            return {"echo": data}


class Fails(BaseProcessor):
    def process(self, data: Any, context: ProcessingContext) -> Any:
        raise RuntimeError("model said no")


def handle(
    processor: BaseProcessor, record: RecordInfo, value: bytes | None = b'{"id": "m1", "content": "x"}'
) -> Outcome:
    with ThreadPoolExecutor(2) as executor:
        handler = MessageHandler(
            ProcessorRouter({}, processor), MessageFormat(), executor, tracer=MessageTracer(consumer_group="group-1")
        )
        return asyncio.run(handler.handle(record, value))


def finished(spans: InMemorySpanExporter, name: str) -> Any:
    matches = [span for span in spans.get_finished_spans() if span.name == name]
    assert len(matches) == 1, [span.name for span in spans.get_finished_spans()]
    return matches[0]


def traceparent_of(outcome: Outcome) -> str:
    values = [value for name, value in outcome.headers if name == "traceparent"]
    assert len(values) == 1, outcome.headers
    return values[0].decode()


@pytest.mark.parametrize("processor", [CallsModel(), AsyncCallsModel()], ids=["sync", "async"])
def test_span_continues_input_trace(processor: BaseProcessor, spans: InMemorySpanExporter) -> None:
    record = RecordInfo("orders", 2, 41, key=b"customer-7", headers=(("traceparent", TRACEPARENT),))

    outcome = handle(processor, record)

    assert isinstance(outcome, Success)
    process = finished(spans, "process orders")
    llm = finished(spans, "llm call")
    assert format(process.context.trace_id, "032x") == TRACE_ID
    assert format(process.parent.span_id, "016x") == PARENT_ID
    assert llm.parent.span_id == process.context.span_id
    assert process.kind is trace.SpanKind.CONSUMER
    assert traceparent_of(outcome) == f"00-{TRACE_ID}-{process.context.span_id:016x}-01"


def test_span_has_kafka_messaging_attributes(spans: InMemorySpanExporter) -> None:
    record = RecordInfo("orders", 2, 41, key=b"customer-7")

    handle(CallsModel(), record)

    attributes = dict(finished(spans, "process orders").attributes)
    assert attributes["messaging.system"] == "kafka"
    assert attributes["messaging.operation.type"] == "process"
    assert attributes["messaging.destination.name"] == "orders"
    assert attributes["messaging.destination.partition.id"] == "2"
    assert attributes["messaging.kafka.offset"] == 41
    assert attributes["messaging.consumer.group.name"] == "group-1"
    assert attributes["messaging.kafka.message.key"] == "customer-7"
    assert attributes["llm_kafka.message.id"] == "m1"
    assert attributes["llm_kafka.processor"] == "CallsModel"


def test_binary_key_is_left_out(spans: InMemorySpanExporter) -> None:
    handle(CallsModel(), RecordInfo("orders", 0, 1, key=b"\xff\x00"))

    assert "messaging.kafka.message.key" not in finished(spans, "process orders").attributes


@pytest.mark.parametrize(
    "header",
    [
        b"garbage",
        b"00-zzzz-b7ad6b7169203331-01",
        b"\xff\xfe",
        b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
    ],
)
def test_malformed_traceparent_starts_new_trace(header: bytes, spans: InMemorySpanExporter) -> None:
    outcome = handle(CallsModel(), RecordInfo("orders", 0, 1, headers=(("traceparent", header),)))

    assert isinstance(outcome, Success)
    process = finished(spans, "process orders")
    assert process.parent is None
    assert format(process.context.trace_id, "032x") != TRACE_ID
    assert traceparent_of(outcome).split("-")[1] == format(process.context.trace_id, "032x")


def test_failure_carries_trace_and_error_status(spans: InMemorySpanExporter) -> None:
    record = RecordInfo("orders", 0, 1, headers=(("traceparent", TRACEPARENT),))

    outcome = handle(Fails(), record)

    assert isinstance(outcome, Failure)
    process = finished(spans, "process orders")
    assert process.status.status_code is trace.StatusCode.ERROR
    assert process.attributes["error.type"] == "RuntimeError"
    assert traceparent_of(outcome).split("-")[1] == TRACE_ID


def test_one_span_per_record(spans: InMemorySpanExporter) -> None:
    for offset in range(3):
        handle(CallsModel(), RecordInfo("orders", 0, offset))

    names = [span.name for span in spans.get_finished_spans()]
    assert names.count("process orders") == 3


def test_last_traceparent_header_wins() -> None:
    other = b"00-11111111111111111111111111111111-2222222222222222-01"
    context = extract_context((("traceparent", other), ("traceparent", TRACEPARENT)))

    span_context = trace.get_current_span(context).get_span_context()
    assert format(span_context.trace_id, "032x") == TRACE_ID


def test_replace_trace_headers_drops_old_context() -> None:
    headers = [("traceparent", TRACEPARENT), ("tracestate", b"a=1"), ("user", b"kept")]

    with global_provider().get_tracer("test").start_as_current_span("replay"):
        replaced = replace_trace_headers(headers)

    names = [name for name, _ in replaced]
    assert names.count("traceparent") == 1
    assert "tracestate" not in names
    assert ("user", b"kept") in replaced
    assert dict(replaced)["traceparent"] != TRACEPARENT


def test_without_sdk_input_context_passes_through() -> None:
    tracer = MessageTracer(tracer_provider=trace.NoOpTracerProvider())
    record = RecordInfo("orders", 0, 1, headers=(("traceparent", TRACEPARENT),))

    with ThreadPoolExecutor(1) as executor:
        handler = MessageHandler(ProcessorRouter({}, CallsModel()), MessageFormat(), executor, tracer=tracer)
        outcome = asyncio.run(handler.handle(record, b'{"id": "m1", "content": "x"}'))

    assert traceparent_of(outcome) == TRACEPARENT.decode()
