"""GenAI-convention spans and metrics of LLMClient, read back through the OpenTelemetry SDK."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from llm_kafka import ProviderServerError, RetryPolicy
from llm_kafka.observability import genai
from llm_kafka.observability.llm_telemetry import LLMTelemetry
from llm_kafka.testing.llm_server import LocalLLMServer
from tests.unit.llm_clients import make_client


@pytest.fixture
def telemetry() -> tuple[LLMTelemetry, InMemorySpanExporter, InMemoryMetricReader]:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    return LLMTelemetry(tracer_provider, meter_provider), exporter, reader


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    points: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points.setdefault(metric.name, []).extend(metric.data.data_points)
    return points


def test_span_follows_genai_conventions(server: LocalLLMServer, telemetry: Any) -> None:
    llm_telemetry, exporter, _ = telemetry

    response = make_client(server, "anthropic", telemetry=llm_telemetry).complete("hello", max_tokens=50)

    (span,) = exporter.get_finished_spans()
    assert span.name == "chat local-model"
    assert span.kind is SpanKind.CLIENT
    assert span.attributes is not None
    assert span.attributes[genai.OPERATION_NAME] == "chat"
    assert span.attributes[genai.PROVIDER_NAME] == "anthropic"
    assert span.attributes[genai.REQUEST_MODEL] == "local-model"
    assert span.attributes[genai.REQUEST_MAX_TOKENS] == 50
    assert span.attributes[genai.USAGE_INPUT_TOKENS] == response.usage.input_tokens
    assert span.attributes[genai.USAGE_OUTPUT_TOKENS] == response.usage.output_tokens
    assert span.attributes[genai.RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert span.attributes[genai.SERVER_ADDRESS] == "127.0.0.1"
    assert span.attributes[genai.SERVER_PORT] == server.port


def test_metrics_record_tokens_and_duration(server: LocalLLMServer, telemetry: Any) -> None:
    llm_telemetry, _, reader = telemetry

    response = make_client(server, telemetry=llm_telemetry).complete("hello")

    points = metric_points(reader)
    token_points = {point.attributes[genai.TOKEN_TYPE]: point.sum for point in points[genai.METRIC_TOKEN_USAGE]}
    assert token_points == {
        "input": response.usage.input_tokens,
        "output": response.usage.output_tokens,
    }
    (duration,) = points[genai.METRIC_OPERATION_DURATION]
    assert duration.count == 1
    assert duration.attributes[genai.PROVIDER_NAME] == "openai"


def test_failed_attempts_carry_error_type(server: LocalLLMServer, telemetry: Any) -> None:
    llm_telemetry, exporter, reader = telemetry
    server.configure(fail_marker={"LLMFAIL500": 500})

    with pytest.raises(ProviderServerError):
        make_client(
            server,
            telemetry=llm_telemetry,
            retry_policy=RetryPolicy(max_attempts=2, base_delay=0.01),
        ).complete("LLMFAIL500")

    spans = exporter.get_finished_spans()
    assert len(spans) == 2
    assert all(span.attributes and span.attributes[genai.ERROR_TYPE] == "ProviderServerError" for span in spans)
    durations = metric_points(reader)[genai.METRIC_OPERATION_DURATION]
    assert durations[0].attributes[genai.ERROR_TYPE] == "ProviderServerError"


def test_convention_version_is_pinned() -> None:
    assert genai.SEMCONV_VERSION == "1.37.0"
    assert genai.SCHEMA_URL.endswith("/1.37.0")
