"""The optional Prometheus endpoint serves collector metrics in the text format."""

from __future__ import annotations

import urllib.request

import pytest

from llm_kafka.errors import ConfigurationError
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.observability.prometheus import start_prometheus_endpoint

pytest.importorskip("opentelemetry.exporter.prometheus")


def test_endpoint_serves_builtin_metrics() -> None:
    endpoint = start_prometheus_endpoint(port=0, set_global=False)
    try:
        metrics = MetricsCollector(meter=endpoint.meter_provider.get_meter("llm_kafka"))
        metrics.increment("messages.processed", 2, {"topic": "orders", "processor": "echo"})
        metrics.record_duration("processing.duration", 0.5, {"topic": "orders", "processor": "echo"})
        metrics.set_gauge("consumer.lag", 7, {"topic": "orders", "partition": 0})

        with urllib.request.urlopen(endpoint.url, timeout=5) as response:
            text = response.read().decode()
    finally:
        endpoint.close()

    assert 'llm_kafka_messages_processed_total{processor="echo",topic="orders"} 2.0' in text
    assert 'llm_kafka_processing_duration_seconds_count{processor="echo",topic="orders"} 1.0' in text
    assert 'llm_kafka_consumer_lag{partition="0",topic="orders"} 7.0' in text


def test_endpoint_on_taken_port_is_rejected() -> None:
    endpoint = start_prometheus_endpoint(port=0, set_global=False)
    try:
        with pytest.raises(ConfigurationError, match="Pick another port"):
            start_prometheus_endpoint(port=endpoint.port, set_global=False)
    finally:
        endpoint.close()
