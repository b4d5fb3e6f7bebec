"""Test helpers that produce and read records on the real broker, with bounded waits."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition

from llm_kafka import Pipeline


@dataclass(frozen=True)
class ReadRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes | None]


def produce(
    bootstrap_servers: str,
    topic: str,
    records: Iterable[
        tuple[bytes | None, bytes | None]
        | tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
    ],
    partition: int | None = None,
) -> int:
    """Produce (key, value[, headers]) records and wait until all are acknowledged."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers,
            "enable.idempotence": True,
            "acks": "all",
        }
    )
    errors: list[str] = []
    count = 0
    for record in records:
        key, value = record[0], record[1]
        headers = record[2] if len(record) > 2 else None  # type: ignore[misc]
        options = {} if partition is None else {"partition": partition}
        producer.produce(
            topic,
            value=value,
            key=key,
            headers=headers,
            on_delivery=lambda err, _: errors.append(str(err)) if err else None,
            **options,
        )
        producer.poll(0)
        count += 1
    remaining = producer.flush(30)
    assert remaining == 0, f"{remaining} test records were not delivered"
    assert not errors, errors
    return count


def read_all(
    bootstrap_servers: str,
    topic: str,
    expected: int,
    timeout_s: float = 60.0,
    quiet_s: float = 2.0,
) -> list[ReadRecord]:
    """Read a topic from the start until ``expected`` records arrived, then wait ``quiet_s`` for extras."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[ReadRecord] = []
    deadline = time.monotonic() + timeout_s
    quiet_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if len(records) >= expected:
                quiet_until = quiet_until or time.monotonic() + quiet_s
                if time.monotonic() >= quiet_until:
                    break
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            records.append(
                ReadRecord(
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    value=message.value(),
                    headers=dict(message.headers() or []),
                )
            )
    finally:
        consumer.close()
    return records


def committed_offsets(
    bootstrap_servers: str, group_id: str, topic: str, partitions: int
) -> dict[int, int]:
    """Return the group's committed offset per partition (negative when none)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": group_id,
            "enable.auto.commit": False,
        }
    )
    try:
        result = consumer.committed(
            [TopicPartition(topic, p) for p in range(partitions)], timeout=15
        )
        return {tp.partition: tp.offset for tp in result}
    finally:
        consumer.close()


def end_offsets(bootstrap_servers: str, topic: str, partitions: int) -> dict[int, int]:
    """Return the high watermark of each partition."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap_servers, "group.id": f"wm-{uuid.uuid4().hex}"}
    )
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


def wait_until(condition, timeout_s: float, interval_s: float = 0.2) -> bool:  # type: ignore[no-untyped-def]
    """Poll ``condition`` until it is true or ``timeout_s`` passes; return its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return bool(condition())


def is_settled(pipeline: Pipeline, expected: int) -> bool:
    """Return whether ``expected`` records are processed or dead-lettered."""
    snapshot = pipeline.metrics.snapshot()
    return (
        snapshot.counter("messages.processed")
        + snapshot.counter("messages.dead_lettered")
        >= expected
    )


def run_until_settled(
    pipeline: Pipeline, expected: int, timeout_s: float = 60.0
) -> None:
    """Run ``pipeline`` on its thread until ``expected`` records are processed or dead-lettered."""
    pipeline.start()
    try:
        assert wait_until(lambda: is_settled(pipeline, expected), timeout_s), (
            f"pipeline did not settle: {pipeline.metrics.snapshot().counters}"
        )
    finally:
        pipeline.stop(timeout=60)
    assert pipeline.error is None, pipeline.error
