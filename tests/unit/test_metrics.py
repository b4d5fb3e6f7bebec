"""MetricsCollector: in-process values and the OpenTelemetry instruments behind them."""

import threading

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from llm_kafka import MetricsCollector


def test_counters_add_up_across_threads() -> None:
    metrics = MetricsCollector()

    def work() -> None:
        for _ in range(1000):
            metrics.increment("messages.processed", attributes={"topic": "t"})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert metrics.snapshot().counter("messages.processed") == 4000


def test_stop_timer_returns_elapsed_seconds() -> None:
    metrics = MetricsCollector()

    metrics.start_timer("llm.call")
    elapsed = metrics.stop_timer("llm.call")

    timer = metrics.snapshot().timers["llm.call"]
    assert elapsed >= 0
    assert timer.count == 1
    assert timer.total == pytest.approx(elapsed)


def test_stop_timer_without_start_raises() -> None:
    with pytest.raises(KeyError, match="was not started"):
        MetricsCollector().stop_timer("never")


def test_values_reach_opentelemetry_reader() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = MetricsCollector(meter=provider.get_meter("test"))

    metrics.increment("messages.consumed", 3, {"topic": "orders"})
    metrics.record_duration("commit.latency", 0.25)

    data = reader.get_metrics_data()
    points = {
        metric.name: metric.data.data_points[0]
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert points["llm_kafka.messages.consumed"].value == 3
    assert dict(points["llm_kafka.messages.consumed"].attributes) == {"topic": "orders"}
    assert points["llm_kafka.commit.latency"].sum == 0.25
