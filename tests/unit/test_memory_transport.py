"""The in-memory transport against the engine's ConsumerPort and ProducerPort contracts."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator

import pytest

from llm_kafka.engine.transport import CommittedOffset, TopicPartition
from llm_kafka.errors import CommitError, DeliveryError, KafkaError, OutputTooLargeError
from llm_kafka.testing.memory import InMemoryBroker, InMemoryConsumer, InMemoryProducer


class Events:
    """Records the partition callbacks of one consumer, with the thread each ran on."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[TopicPartition]]] = []
        self.threads: set[str] = set()

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._record("assign", partitions)

    def revoke(self, partitions: list[TopicPartition]) -> None:
        self._record("revoke", partitions)

    def lost(self, partitions: list[TopicPartition]) -> None:
        self._record("lost", partitions)

    def _record(self, kind: str, partitions: list[TopicPartition]) -> None:
        self.calls.append((kind, partitions))
        self.threads.add(threading.current_thread().name)


@pytest.fixture
def broker() -> InMemoryBroker:
    return InMemoryBroker()


@pytest.fixture
def producer(broker: InMemoryBroker) -> Iterator[InMemoryProducer]:
    producer = broker.transport("unused").producer()
    yield producer
    producer.close(1.0)


def subscribed(broker: InMemoryBroker, group: str, topic: str) -> tuple[InMemoryConsumer, Events]:
    consumer = broker.transport(group).consumer()
    events = Events()
    consumer.subscribe([topic], events.assign, events.revoke, events.lost)
    return consumer, events


def produce_and_wait(
    producer: InMemoryProducer, topic: str, value: bytes, **options: object
) -> list[DeliveryError | None]:
    reports: list[DeliveryError | None] = []
    producer.produce(topic, value, on_delivery=reports.append, **options)  # type: ignore[arg-type]
    assert producer.flush(5.0) == 0
    return reports


def test_send_partitions_by_key_crc32(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=3)

    records = [broker.send("t", {"n": i}, key=f"key-{i}") for i in range(20)]

    for i, record in enumerate(records):
        assert record.partition == zlib.crc32(f"key-{i}".encode()) % 3


def test_send_spreads_null_keys_round_robin(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=3)

    partitions = [broker.send("t", b"v").partition for _ in range(6)]

    assert partitions == [0, 1, 2, 0, 1, 2]


def test_send_assigns_consecutive_offsets(broker: InMemoryBroker) -> None:
    broker.create_topic("t")

    offsets = [broker.send("t", "v").offset for _ in range(3)]

    assert offsets == [0, 1, 2]
    assert broker.end_offsets("t") == {0: 3}


def test_send_to_missing_topic_raises(broker: InMemoryBroker) -> None:
    with pytest.raises(ValueError, match="not found"):
        broker.send("missing", b"v")


def test_create_topic_twice_raises(broker: InMemoryBroker) -> None:
    broker.create_topic("t")

    with pytest.raises(ValueError, match="already exists"):
        broker.create_topic("t")


def test_records_keep_key_headers_timestamp(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    broker.send("t", {"id": "1"}, key="k", headers={"trace": "abc", "empty": None}, timestamp_ms=1234)

    [record] = broker.records("t")

    assert record.key == b"k"
    assert record.json() == {"id": "1"}
    assert record.header("trace") == b"abc"
    assert record.header("empty") is None
    assert record.timestamp_ms == 1234


def test_poll_batch_returns_record_identity(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    broker.send("t", b"value", key=b"k", headers=[("h", b"1")], timestamp_ms=99)
    consumer, _ = subscribed(broker, "g", "t")

    [record] = consumer.poll_batch(10, 1.0)

    assert record.value == b"value"
    assert (record.info.topic, record.info.partition, record.info.offset) == ("t", 0, 0)
    assert record.info.key == b"k"
    assert record.info.headers == (("h", b"1"),)
    assert record.info.timestamp_ms == 99


def test_assign_runs_inside_poll_batch(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=2)
    consumer, events = subscribed(broker, "g", "t")
    assert events.calls == []

    consumer.poll_batch(10, 0.0)

    assert events.calls == [("assign", [("t", 0), ("t", 1)])]
    assert events.threads == {threading.current_thread().name}


def test_poll_batch_honours_max_records_round_robin(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=2)
    for _ in range(3):
        broker.send("t", b"a", partition=0)
        broker.send("t", b"b", partition=1)
    consumer, _ = subscribed(broker, "g", "t")

    first = consumer.poll_batch(4, 0.0)
    rest = consumer.poll_batch(10, 0.0)

    assert [(r.info.partition, r.info.offset) for r in first] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert [(r.info.partition, r.info.offset) for r in rest] == [(0, 2), (1, 2)]


def test_poll_batch_waits_for_new_record(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    consumer, _ = subscribed(broker, "g", "t")
    consumer.poll_batch(10, 0.0)
    timer = threading.Timer(0.05, lambda: broker.send("t", b"late"))
    timer.start()

    records = consumer.poll_batch(10, 5.0)
    timer.join()

    assert [r.value for r in records] == [b"late"]


def test_poll_batch_returns_empty_after_timeout(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    consumer, _ = subscribed(broker, "g", "t")

    assert consumer.poll_batch(10, 0.05) == []


def test_second_member_splits_partitions_after_revoke(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=2)
    first, first_events = subscribed(broker, "g", "t")
    first.poll_batch(10, 0.0)
    second, second_events = subscribed(broker, "g", "t")

    second.poll_batch(10, 0.0)
    assert second_events.calls == [], "a partition must not move before its owner revokes it"
    first.poll_batch(10, 0.0)
    second.poll_batch(10, 0.0)

    assert first_events.calls == [("assign", [("t", 0), ("t", 1)]), ("revoke", [("t", 1)])]
    assert second_events.calls == [("assign", [("t", 1)])]
    assert first.assignment == {("t", 0)}
    assert second.assignment == {("t", 1)}


def test_close_revokes_and_hands_over_partitions(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=2)
    first, first_events = subscribed(broker, "g", "t")
    first.poll_batch(10, 0.0)
    second, second_events = subscribed(broker, "g", "t")
    second.poll_batch(10, 0.0)
    first.poll_batch(10, 0.0)
    second.poll_batch(10, 0.0)

    second.close()
    first.poll_batch(10, 0.0)

    assert second_events.calls[-1] == ("revoke", [("t", 1)])
    assert first_events.calls[-1] == ("assign", [("t", 1)])
    assert first.assignment == {("t", 0), ("t", 1)}


def test_close_twice_is_safe(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    consumer, events = subscribed(broker, "g", "t")
    consumer.poll_batch(10, 0.0)

    consumer.close()
    consumer.close()

    assert events.calls.count(("revoke", [("t", 0)])) == 1
    with pytest.raises(KafkaError, match="closed"):
        consumer.poll_batch(10, 0.0)


def test_commit_stores_offset_and_metadata(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    consumer, _ = subscribed(broker, "g", "t")
    consumer.poll_batch(10, 0.0)

    consumer.commit({("t", 0): CommittedOffset(5, "done:7,8")})

    assert broker.committed("g", "t") == {0: 5}
    assert broker.committed_offsets("g", "t")[0].metadata == "done:7,8"
    assert consumer.committed([("t", 0)], 1.0) == {("t", 0): CommittedOffset(5, "done:7,8")}


def test_committed_omits_partitions_without_commit(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=2)
    consumer, _ = subscribed(broker, "g", "t")

    assert consumer.committed([("t", 0), ("t", 1)], 1.0) == {}
    assert broker.committed("g", "t") == {}


def test_new_member_resumes_from_committed_offset(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    for i in range(5):
        broker.send("t", str(i))
    first, _ = subscribed(broker, "g", "t")
    first.poll_batch(10, 0.0)
    first.commit({("t", 0): CommittedOffset(3)})
    first.close()

    second, _ = subscribed(broker, "g", "t")

    assert [r.info.offset for r in second.poll_batch(10, 0.0)] == [3, 4]


def test_latest_offset_reset_skips_old_records(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    broker.send("t", b"old")
    consumer = broker.transport("g", auto_offset_reset="latest").consumer()
    consumer.subscribe(["t"], Events().assign, Events().revoke, Events().lost)
    assert consumer.poll_batch(10, 0.0) == []

    broker.send("t", b"new")

    assert [r.value for r in consumer.poll_batch(10, 0.0)] == [b"new"]


def test_pause_holds_records_until_resume(broker: InMemoryBroker) -> None:
    broker.create_topic("t", partitions=2)
    broker.send("t", b"a", partition=0)
    broker.send("t", b"b", partition=1)
    consumer, _ = subscribed(broker, "g", "t")
    consumer.poll_batch(0, 0.0)

    consumer.pause([("t", 0)])
    paused = consumer.poll_batch(10, 0.0)
    consumer.resume([("t", 0)])
    resumed = consumer.poll_batch(10, 0.0)

    assert [r.value for r in paused] == [b"b"]
    assert [r.value for r in resumed] == [b"a"]


def test_expelled_member_loses_partitions_and_rejoins(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    consumer, events = subscribed(broker, "g", "t")
    consumer.poll_batch(10, 0.0)

    broker.expel_members("g")
    with pytest.raises(CommitError, match="expelled"):
        consumer.commit({("t", 0): CommittedOffset(1)})
    consumer.poll_batch(10, 0.0)

    assert events.calls == [("assign", [("t", 0)]), ("lost", [("t", 0)]), ("assign", [("t", 0)])]
    assert broker.committed("g", "t") == {}


def test_member_silent_past_poll_interval_is_expelled() -> None:
    broker = InMemoryBroker(max_poll_interval_s=0.05)
    broker.create_topic("t")
    stale, stale_events = subscribed(broker, "g", "t")
    stale.poll_batch(10, 0.0)
    active, active_events = subscribed(broker, "g", "t")
    threading.Event().wait(0.1)

    active.poll_batch(10, 0.0)
    stale.poll_batch(10, 0.0)

    assert active_events.calls == [("assign", [("t", 0)])]
    assert stale_events.calls[-1] == ("lost", [("t", 0)])


def test_injected_commit_fault_fails_count_commits(broker: InMemoryBroker) -> None:
    broker.create_topic("t")
    consumer, _ = subscribed(broker, "g", "t")
    consumer.poll_batch(10, 0.0)
    broker.fail_commits("g", count=1)

    with pytest.raises(CommitError, match="injected"):
        consumer.commit({("t", 0): CommittedOffset(1)})
    consumer.commit({("t", 0): CommittedOffset(2)})

    assert broker.committed("g", "t") == {0: 2}


def test_delivery_report_runs_on_producer_thread(broker: InMemoryBroker, producer: InMemoryProducer) -> None:
    broker.create_topic("out")
    threads: list[str] = []
    inside_produce = threading.local()

    def on_delivery(error: DeliveryError | None) -> None:
        assert not getattr(inside_produce, "active", False), "on_delivery ran inside produce"
        threads.append(threading.current_thread().name)

    inside_produce.active = True
    producer.produce("out", b"v", key=b"k", headers=[("h", "text")], on_delivery=on_delivery)
    inside_produce.active = False
    assert producer.flush(5.0) == 0

    assert threads == ["llm-kafka-memory-delivery"]
    [record] = broker.records("out")
    assert record.header("h") == b"text"


def test_delivery_reports_none_and_writes_record(broker: InMemoryBroker, producer: InMemoryProducer) -> None:
    broker.create_topic("out")

    reports = produce_and_wait(producer, "out", b"v")

    assert reports == [None]
    assert [r.value for r in broker.records("out")] == [b"v"]


def test_oversized_record_raises_at_once() -> None:
    broker = InMemoryBroker(max_message_bytes=10)
    broker.create_topic("out")
    producer = broker.transport("g").producer()
    try:
        with pytest.raises(OutputTooLargeError, match="max_message_bytes=10"):
            producer.produce("out", b"x" * 11, on_delivery=lambda error: None)
    finally:
        producer.close(1.0)
    assert broker.records("out") == []


def test_injected_delivery_fault_reports_error(broker: InMemoryBroker, producer: InMemoryProducer) -> None:
    broker.create_topic("out")
    broker.fail_delivery("out", count=1, retryable=True)

    failed = produce_and_wait(producer, "out", b"first")
    delivered = produce_and_wait(producer, "out", b"second")

    assert isinstance(failed[0], DeliveryError)
    assert failed[0].retryable is True
    assert delivered == [None]
    assert [r.value for r in broker.records("out")] == [b"second"]


def test_delivery_to_missing_topic_is_not_retryable(producer: InMemoryProducer) -> None:
    [report] = produce_and_wait(producer, "missing", b"v")

    assert isinstance(report, DeliveryError)
    assert report.retryable is False


def test_callback_may_produce_again(broker: InMemoryBroker, producer: InMemoryProducer) -> None:
    broker.create_topic("out")
    broker.create_topic("dlq")
    broker.fail_delivery("out")
    reports: list[DeliveryError | None] = []

    def on_output(error: DeliveryError | None) -> None:
        producer.produce("dlq", b"v", on_delivery=reports.append)

    producer.produce("out", b"v", on_delivery=on_output)

    assert producer.flush(5.0) == 0
    assert reports == [None]
    assert len(broker.records("dlq")) == 1


def test_raising_callback_does_not_stop_deliveries(broker: InMemoryBroker, producer: InMemoryProducer) -> None:
    broker.create_topic("out")

    def explode(error: DeliveryError | None) -> None:
        raise RuntimeError("callback failed")

    producer.produce("out", b"first", on_delivery=explode)
    reports = produce_and_wait(producer, "out", b"second")

    assert reports == [None]


def test_close_reports_queued_records_as_undelivered(broker: InMemoryBroker) -> None:
    broker.create_topic("out")
    producer = broker.transport("g").producer()
    release = threading.Event()
    reports: list[DeliveryError | None] = []

    producer.produce("out", b"blocks", on_delivery=lambda error: release.wait(5.0))
    producer.produce("out", b"queued", on_delivery=reports.append)
    timer = threading.Timer(0.2, release.set)
    timer.start()
    remaining = producer.close(0.05)
    timer.join()

    assert remaining == 2
    assert len(reports) == 1
    assert isinstance(reports[0], DeliveryError)
    with pytest.raises(DeliveryError, match="closed"):
        producer.produce("out", b"late", on_delivery=reports.append)


def test_topics_lists_broker_topics(broker: InMemoryBroker, producer: InMemoryProducer) -> None:
    broker.create_topic("a")
    broker.create_topic("b")

    assert producer.topics(1.0) == {"a", "b"}


@pytest.mark.parametrize("entry", [CommittedOffset(-1), CommittedOffset(CommittedOffset(1)), 3])  # type: ignore[arg-type]
def test_commit_rejects_invalid_offset(broker: InMemoryBroker, entry: object) -> None:
    broker.create_topic("t")
    consumer, _ = subscribed(broker, "g", "t")
    consumer.poll_batch(10, 0.0)

    with pytest.raises(TypeError, match="CommittedOffset"):
        consumer.commit({("t", 0): entry})  # type: ignore[dict-item]

    assert broker.committed("g", "t") == {}


def test_lone_member_past_poll_interval_loses_partitions() -> None:
    broker = InMemoryBroker(max_poll_interval_s=0.05)
    broker.create_topic("t")
    consumer, events = subscribed(broker, "g", "t")
    consumer.poll_batch(10, 0.0)
    threading.Event().wait(0.1)

    consumer.poll_batch(10, 0.0)

    assert events.calls == [("assign", [("t", 0)]), ("lost", [("t", 0)]), ("assign", [("t", 0)])]
