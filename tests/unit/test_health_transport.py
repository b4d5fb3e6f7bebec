"""HealthReportingTransport: the consumer the engine polls keeps a HealthState current."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from llm_kafka.engine.transport import CommittedOffset, ConsumedRecord, PartitionsCallback, TopicPartition
from llm_kafka.errors import CommitError
from llm_kafka.observability.health import HealthState
from llm_kafka.observability.health_transport import HealthReportingTransport


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class StubConsumer:
    """Records calls; the test fires the partition callbacks and commit failures."""

    def __init__(self) -> None:
        self.callbacks: dict[str, PartitionsCallback] = {}
        self.fail_commit = False
        self.closed = False
        self.polls = 0

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
    ) -> None:
        self.callbacks = {"assign": on_assign, "revoke": on_revoke, "lost": on_lost}

    def poll_batch(self, max_records: int, timeout: float) -> list[ConsumedRecord]:
        self.polls += 1
        return []

    def pause(self, partitions: Sequence[TopicPartition]) -> None: ...

    def resume(self, partitions: Sequence[TopicPartition]) -> None: ...

    def committed(self, partitions: Sequence[TopicPartition], timeout: float) -> dict[TopicPartition, CommittedOffset]:
        return {}

    def commit(self, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        if self.fail_commit:
            raise CommitError("broker unreachable")

    def close(self) -> None:
        self.closed = True


class StubTransport:
    name = "stub"

    def __init__(self) -> None:
        self.last_consumer = StubConsumer()

    def consumer(self) -> Any:
        return self.last_consumer

    def producer(self) -> Any:
        return "producer"


def make() -> tuple[Any, StubConsumer, HealthState, Clock, list[str]]:
    clock = Clock()
    health = HealthState(liveness_timeout_s=10, clock=clock)
    inner = StubTransport()
    transport = HealthReportingTransport(inner, health)
    consumer = transport.consumer()
    seen: list[str] = []
    consumer.subscribe(
        ["orders"],
        lambda parts: seen.append(f"assign {parts}"),
        lambda parts: seen.append(f"revoke {parts}"),
        lambda parts: seen.append(f"lost {parts}"),
    )
    return consumer, inner.last_consumer, health, clock, seen


def test_poll_is_a_beat() -> None:
    consumer, stub, health, clock, _ = make()

    clock.now = 30
    assert not health.liveness().ok
    consumer.poll_batch(10, 0.1)

    assert health.liveness().ok
    assert stub.polls == 1


def test_assignment_follows_callbacks() -> None:
    _, stub, health, _, seen = make()

    stub.callbacks["assign"]([("orders", 0), ("orders", 1)])
    assert health.readiness().details["assigned_partitions"] == 2
    stub.callbacks["revoke"]([("orders", 0)])
    assert health.readiness().details["assigned_partitions"] == 1
    stub.callbacks["lost"]([("orders", 1)])

    assert health.readiness().reasons == ("no partitions assigned",)
    assert seen == ["assign [('orders', 0), ('orders', 1)]", "revoke [('orders', 0)]", "lost [('orders', 1)]"]


def test_commit_result_sets_broker_reachable() -> None:
    consumer, stub, health, _, _ = make()
    stub.callbacks["assign"]([("orders", 0)])

    stub.fail_commit = True
    with pytest.raises(CommitError):
        consumer.commit({("orders", 0): CommittedOffset(5)})
    assert health.readiness().reasons == ("Kafka brokers unreachable",)

    stub.fail_commit = False
    consumer.commit({("orders", 0): CommittedOffset(6)})
    assert health.readiness().ok


def test_close_marks_stopping() -> None:
    consumer, stub, health, _, _ = make()
    stub.callbacks["assign"]([("orders", 0)])

    consumer.close()

    assert stub.closed
    assert "pipeline is stopping" in health.readiness().reasons
    assert health.readiness().details["assigned_partitions"] == 0


def test_producer_is_passed_through() -> None:
    transport = HealthReportingTransport(StubTransport(), HealthState())

    assert transport.producer() == "producer"
    assert transport.name == "stub"
