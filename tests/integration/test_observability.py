"""Traces and metrics on the real broker: one trace across the Kafka hop, counts after a known run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from opentelemetry import propagate, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_kafka import (
    BaseProcessor,
    KafkaSettings,
    LLMClient,
    MetricsCollector,
    Pipeline,
    PipelineSettings,
    ProcessingContext,
)
from llm_kafka.dead_letter_replay import replay_dead_letters
from llm_kafka.kafka import dead_letter as dlq
from llm_kafka.testing.llm_server import LocalLLMServer

from .kafka_io import produce, read_all, run_until_settled
from .processors import EchoProcessor, LLMEchoProcessor

pytestmark = pytest.mark.kafka


def global_tracer_provider() -> TracerProvider:
    """Return the process's SDK tracer provider, installing one the first time."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    return provider


SPANS = InMemorySpanExporter()
global_tracer_provider().add_span_processor(SimpleSpanProcessor(SPANS))


class ModelCallingProcessor(BaseProcessor):
    """Opens a GenAI-style client span with the OpenTelemetry API, as an LLM client does."""

    name = "model_caller"

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        with trace.get_tracer("test.llm").start_as_current_span("chat test-model", kind=trace.SpanKind.CLIENT):
            if data == "explode":
                raise ValueError("the model call failed")
            return {"answer": str(data)}


def make_pipeline(
    bootstrap: str, topics: dict[str, str], processor: BaseProcessor, metrics: MetricsCollector | None = None
) -> Pipeline:
    return Pipeline(
        processor,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"group-{topics['in']}"),
        settings=PipelineSettings(
            input_topics=[topics["in"]], output_topic=topics["out"], dead_letter_topic=topics["dlq"]
        ),
        metrics=metrics,
    )


def new_topics(new_topic: Callable[..., str]) -> dict[str, str]:
    return {"in": new_topic("obs-in"), "out": new_topic("obs-out"), "dlq": new_topic("obs-dlq")}


def span_named(name: str) -> Any:
    matches = [span for span in SPANS.get_finished_spans() if span.name == name]
    assert len(matches) == 1, [span.name for span in SPANS.get_finished_spans()]
    return matches[0]


def parse_traceparent(value: bytes | None) -> tuple[int, int]:
    assert value is not None
    _version, trace_id, span_id, _flags = value.decode().split("-")
    return int(trace_id, 16), int(span_id, 16)


def produce_in_span(bootstrap: str, topic: str, value: bytes) -> trace.Span:
    """Produce one record inside a producer span, with the span's context in its headers."""
    producer = Producer({"bootstrap.servers": bootstrap})
    with trace.get_tracer("test.producer").start_as_current_span(
        f"upstream send {topic}", kind=trace.SpanKind.PRODUCER
    ) as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        producer.produce(topic, value=value, key=b"k1", headers=list(carrier.items()))
    assert producer.flush(30) == 0
    return span


def test_trace_crosses_kafka_hop(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = new_topics(new_topic)
    SPANS.clear()
    producer_span = produce_in_span(bootstrap_servers, topics["in"], b'{"id": "t1", "content": "hello"}')

    run_until_settled(make_pipeline(bootstrap_servers, topics, ModelCallingProcessor()), expected=1)

    output = read_all(bootstrap_servers, topics["out"], expected=1)
    process = span_named(f"process {topics['in']}")
    model_call = span_named("chat test-model")
    producer_context = producer_span.get_span_context()
    assert process.context.trace_id == producer_context.trace_id
    assert process.parent.span_id == producer_context.span_id
    assert model_call.parent.span_id == process.context.span_id
    assert model_call.context.trace_id == producer_context.trace_id
    assert parse_traceparent(output[0].headers["traceparent"]) == (producer_context.trace_id, process.context.span_id)


def test_dead_letter_record_carries_trace(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = new_topics(new_topic)
    SPANS.clear()
    producer_span = produce_in_span(bootstrap_servers, topics["in"], b'{"id": "t2", "content": "explode"}')

    run_until_settled(make_pipeline(bootstrap_servers, topics, ModelCallingProcessor()), expected=1)

    record = read_all(bootstrap_servers, topics["dlq"], expected=1)[0]
    process = span_named(f"process {topics['in']}")
    assert record.headers[dlq.HEADER_ERROR_TYPE] == b"ValueError"
    assert process.status.status_code is trace.StatusCode.ERROR
    assert parse_traceparent(record.headers["traceparent"])[0] == producer_span.get_span_context().trace_id


def test_malformed_traceparent_is_processed(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = new_topics(new_topic)
    SPANS.clear()
    produce(
        bootstrap_servers, topics["in"], [(b"k", b'{"id": "t3", "content": "x"}', [("traceparent", b"not-a-trace")])]
    )

    run_until_settled(make_pipeline(bootstrap_servers, topics, ModelCallingProcessor()), expected=1)

    output = read_all(bootstrap_servers, topics["out"], expected=1)
    process = span_named(f"process {topics['in']}")
    assert process.parent is None
    assert json.loads(output[0].value or b"{}")["result"] == {"answer": "x"}


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_metrics_after_known_outcomes(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = new_topics(new_topic)
    reader = InMemoryMetricReader()
    metrics = MetricsCollector(meter=MeterProvider(metric_readers=[reader]).get_meter("llm_kafka"))
    good = [(f"g{i}".encode(), json.dumps({"id": f"g{i}", "content": "ok"}).encode()) for i in range(4)]
    bad = [(b"b1", b'{"id": "b1", "content": "explode"}'), (b"b2", b"not json")]
    produce(bootstrap_servers, topics["in"], [*good, *bad])

    run_until_settled(make_pipeline(bootstrap_servers, topics, EchoProcessor(), metrics), expected=6)

    points = metric_points(reader)
    processed = points["llm_kafka.messages.processed"]
    assert [(dict(p.attributes), p.value) for p in processed] == [({"topic": topics["in"], "processor": "echo"}, 4)]
    dead = {dict(p.attributes)["processor"]: p.value for p in points["llm_kafka.messages.dead_lettered"]}
    assert sum(dead.values()) == 2
    assert dead["echo"] == 1
    assert sum(p.value for p in points["llm_kafka.messages.consumed"]) == 6
    assert sum(p.count for p in points["llm_kafka.commit.latency"]) >= 1
    assert sum(p.count for p in points["llm_kafka.processing.duration"]) == 6
    assert [p.value for p in points["llm_kafka.messages.in_flight"]] == [0]
    assert "llm_kafka.commits.failed" not in points


def test_replay_continues_failed_message_trace(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = new_topics(new_topic)
    SPANS.clear()
    producer_span = produce_in_span(bootstrap_servers, topics["in"], b'{"id": "t4", "content": "explode"}')
    run_until_settled(make_pipeline(bootstrap_servers, topics, ModelCallingProcessor()), expected=1)

    report = replay_dead_letters(
        KafkaSettings(bootstrap_servers=bootstrap_servers, group_id=f"group-{topics['in']}"), topics["dlq"]
    )

    assert report.replayed == 1
    replayed = read_all(bootstrap_servers, topics["in"], expected=2)[-1]
    process = span_named(f"process {topics['in']}")
    send = span_named(f"send {topics['in']}")
    trace_id = producer_span.get_span_context().trace_id
    assert send.parent.span_id == process.context.span_id
    assert send.kind is trace.SpanKind.PRODUCER
    assert parse_traceparent(replayed.headers["traceparent"]) == (trace_id, send.context.span_id)


def test_llm_client_span_is_child_of_processing(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = new_topics(new_topic)
    SPANS.clear()
    producer_span = produce_in_span(bootstrap_servers, topics["in"], b'{"id": "t5", "content": "hello model"}')

    with LocalLLMServer() as server:
        llm = LLMClient("openai", "local-model", api_key="local", base_url=server.openai_base_url)
        pipeline = Pipeline(
            LLMEchoProcessor(),
            kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id=f"group-{topics['in']}"),
            settings=PipelineSettings(
                input_topics=[topics["in"]], output_topic=topics["out"], dead_letter_topic=topics["dlq"]
            ),
            llm=llm,
        )
        run_until_settled(pipeline, expected=1)

    output = read_all(bootstrap_servers, topics["out"], expected=1)[0]
    process = span_named(f"process {topics['in']}")
    model_calls = [span for span in SPANS.get_finished_spans() if span.kind is trace.SpanKind.CLIENT]
    assert len(model_calls) == 1, [span.name for span in SPANS.get_finished_spans()]
    assert model_calls[0].parent.span_id == process.context.span_id
    assert model_calls[0].attributes["gen_ai.request.model"] == "local-model"
    assert process.context.trace_id == producer_span.get_span_context().trace_id
    assert parse_traceparent(output.headers["traceparent"]) == (process.context.trace_id, process.context.span_id)
