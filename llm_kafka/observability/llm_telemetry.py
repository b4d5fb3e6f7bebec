"""Spans and metrics of model calls, named by the OpenTelemetry GenAI conventions.

One ``CLIENT`` span and one duration measurement per provider attempt, and token-usage
measurements per attempt that returned usage. Everything goes through the OpenTelemetry API,
so without a configured SDK it costs little and records nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from llm_kafka.llm.types import Usage
from llm_kafka.observability import genai

_INSTRUMENTATION_NAME = "llm_kafka.llm"


@dataclass
class AttemptRecord:
    """Outcome of one attempt for its span and metrics: usage, finish reason, response model, cost."""

    usage: Usage | None = None
    finish_reason: str | None = None
    response_model: str | None = None
    cost: float | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


class LLMTelemetry:
    """Creates the spans and records the GenAI metrics of one ``LLMClient``."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: otel_metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(
            _INSTRUMENTATION_NAME,
            schema_url=genai.SCHEMA_URL,
            tracer_provider=tracer_provider,
        )
        meter = otel_metrics.get_meter(
            _INSTRUMENTATION_NAME,
            schema_url=genai.SCHEMA_URL,
            meter_provider=meter_provider,
        )
        self._token_usage = meter.create_histogram(
            genai.METRIC_TOKEN_USAGE,
            unit=genai.METRIC_TOKEN_USAGE_UNIT,
            description="Number of input and output tokens used per model call.",
            explicit_bucket_boundaries_advisory=list(genai.TOKEN_USAGE_BUCKETS),
        )
        self._duration = meter.create_histogram(
            genai.METRIC_OPERATION_DURATION,
            unit=genai.METRIC_OPERATION_DURATION_UNIT,
            description="Duration of one model call attempt.",
            explicit_bucket_boundaries_advisory=list(genai.OPERATION_DURATION_BUCKETS),
        )

    @contextmanager
    def attempt(
        self,
        *,
        operation: str,
        provider: str,
        model: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        output_type: str | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> Iterator[AttemptRecord]:
        """Wrap one provider attempt in a span; record duration, usage and any error on exit."""
        base: dict[str, Any] = {
            genai.OPERATION_NAME: operation,
            genai.PROVIDER_NAME: provider,
            genai.REQUEST_MODEL: model,
        }
        span_attributes = dict(base)
        if max_tokens is not None:
            span_attributes[genai.REQUEST_MAX_TOKENS] = max_tokens
        if temperature is not None:
            span_attributes[genai.REQUEST_TEMPERATURE] = temperature
        if output_type is not None:
            span_attributes[genai.OUTPUT_TYPE] = output_type
        if server_address is not None:
            base[genai.SERVER_ADDRESS] = span_attributes[genai.SERVER_ADDRESS] = server_address
        if server_port is not None:
            base[genai.SERVER_PORT] = span_attributes[genai.SERVER_PORT] = server_port

        record = AttemptRecord()
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            genai.span_name(operation, model),
            kind=SpanKind.CLIENT,
            attributes=span_attributes,
            record_exception=True,
            set_status_on_exception=False,
        ) as span:
            try:
                yield record
            except BaseException as error:
                error_type = type(error).__name__
                span.set_attribute(genai.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR, str(error)))
                self._duration.record(
                    time.perf_counter() - started,
                    {**base, genai.ERROR_TYPE: error_type},
                )
                raise
            self._finish(span, base, record, time.perf_counter() - started)

    def _finish(self, span: Span, base: dict[str, Any], record: AttemptRecord, seconds: float) -> None:
        attributes = dict(base)
        if record.response_model:
            attributes[genai.RESPONSE_MODEL] = record.response_model
            span.set_attribute(genai.RESPONSE_MODEL, record.response_model)
        if record.finish_reason:
            span.set_attribute(genai.RESPONSE_FINISH_REASONS, [record.finish_reason])
        if record.cost is not None:
            span.set_attribute(genai.USAGE_COST, record.cost)
        for name, value in record.attributes.items():
            span.set_attribute(name, value)
        self._duration.record(seconds, attributes)

        usage = record.usage
        if usage is None:
            return
        span.set_attribute(genai.USAGE_INPUT_TOKENS, usage.input_tokens)
        span.set_attribute(genai.USAGE_OUTPUT_TOKENS, usage.output_tokens)
        if usage.cached_input_tokens:
            span.set_attribute(genai.USAGE_CACHED_INPUT_TOKENS, usage.cached_input_tokens)
        if usage.reasoning_tokens:
            span.set_attribute(genai.USAGE_REASONING_TOKENS, usage.reasoning_tokens)
        self._token_usage.record(usage.input_tokens, {**attributes, genai.TOKEN_TYPE: genai.TOKEN_TYPE_INPUT})
        self._token_usage.record(
            usage.output_tokens,
            {**attributes, genai.TOKEN_TYPE: genai.TOKEN_TYPE_OUTPUT},
        )
