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


def reader_metrics(reader: InMemoryMetricReader) -> dict[str, object]:
    data = reader.get_metrics_data()
    return {
        metric.name: metric
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def test_builtin_instruments_have_unit_and_description() -> None:
    reader = InMemoryMetricReader()
    metrics = MetricsCollector(meter=MeterProvider(metric_readers=[reader]).get_meter("test"))

    metrics.record_duration("processing.duration", 0.1, {"topic": "t", "processor": "p"})
    metrics.set_gauge("messages.in_flight", 3)
    metrics.increment("commits.failed")

    found = reader_metrics(reader)
    assert found["llm_kafka.processing.duration"].unit == "s"  # type: ignore[attr-defined]
    assert found["llm_kafka.messages.in_flight"].unit == "{message}"  # type: ignore[attr-defined]
    assert "rejected" in found["llm_kafka.commits.failed"].description  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (lambda m: m.increment("messages.in_flight"), "record it with set_gauge"),
        (lambda m: m.set_gauge("messages.processed", 1), "record it with increment"),
        (lambda m: m.increment("commit.latency"), "record it with record_duration"),
    ],
)
def test_builtin_name_with_wrong_method_raises(record: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record(MetricsCollector())  # type: ignore[operator]


def test_custom_name_keeps_its_first_kind() -> None:
    metrics = MetricsCollector()
    metrics.increment("my.counter")

    with pytest.raises(ValueError, match="is a counter, not a gauge"):
        metrics.set_gauge("my.counter", 1)


def test_gauge_keeps_one_value_per_attribute_set() -> None:
    metrics = MetricsCollector()

    metrics.set_gauge("consumer.lag", 5, {"topic": "t", "partition": 0})
    metrics.set_gauge("consumer.lag", 7, {"topic": "t", "partition": 1})
    metrics.set_gauge("consumer.lag", 2, {"topic": "t", "partition": 0})

    snapshot = metrics.snapshot()
    assert snapshot.gauge("consumer.lag") == 9
    assert snapshot.gauge("consumer.lag", {"topic": "t", "partition": 1}) == 7
    assert snapshot.gauge("consumer.lag", {"partition": 0, "topic": "t"}) == 2
