"""``KafkaTestBroker``: the test API of ``InMemoryBroker`` on a real Kafka broker.

It wraps a running broker (local or external) and offers the same ``create_topic``,
``send``, ``records``, ``end_offsets``, ``committed`` and ``run_until_settled``, so a test
written against one runs on the other by switching the pytest fixture. Every wait is
bounded, and a broker that does not respond in time raises ``KafkaBrokerError``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from llm_kafka.config import KafkaSettings
from llm_kafka.kafka.transport import KafkaTransport
from llm_kafka.testing.kafka_broker import BrokerHandle, KafkaBrokerError, create_topic
from llm_kafka.testing.records import (
    HeadersArgument,
    StoredRecord,
    encode_headers,
    encode_key,
    encode_value,
)

if TYPE_CHECKING:
    from llm_kafka.pipeline import Pipeline
    from llm_kafka.testing.settle import SettledRun

logger = logging.getLogger(__name__)

# Bounds every request to the broker. A local broker responds in milliseconds, so reaching
# it means the broker is down or overloaded, and the test should fail with that message.
_REQUEST_TIMEOUT_S = 30.0


class KafkaTestBroker:
    """A running Kafka broker with helpers for tests. Use it from one thread at a time.

    ``handle`` is a ``LocalKafkaBroker`` or ``ExternalKafkaBroker``; ``stop()`` closes the
    clients and then stops it (an external broker keeps running).
    """

    def __init__(self, handle: BrokerHandle) -> None:
        self.handle = handle
        self._lock = threading.Lock()
        self._admin: AdminClient | None = None
        self._producer: Producer | None = None
        self._reader: Consumer | None = None

    def __repr__(self) -> str:
        return f"KafkaTestBroker({self.bootstrap_servers})"

    @property
    def bootstrap_servers(self) -> str:
        """The ``host:port`` list clients connect to."""
        return self.handle.bootstrap_servers

    def stop(self) -> None:
        """Close the helper clients, then stop the broker if this process started it."""
        with self._lock:
            if self._producer is not None:
                self._producer.flush(_REQUEST_TIMEOUT_S)
            if self._reader is not None:
                self._reader.close()
            self._admin = self._producer = self._reader = None
        self.handle.stop()

    def kafka_settings(self, group_id: str, **options: Any) -> KafkaSettings:
        """Return ``KafkaSettings`` for this broker and ``group_id``; ``options`` are further fields."""
        return KafkaSettings(bootstrap_servers=self.bootstrap_servers, group_id=group_id, **options)

    # --- topics and records ----------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> str:
        """Create topic ``name`` and return its name; raises ``KafkaException`` if it exists."""
        create_topic(self.bootstrap_servers, name, partitions=partitions, timeout_s=_REQUEST_TIMEOUT_S)
        return name

    def new_topic(self, prefix: str = "topic", partitions: int = 1) -> str:
        """Create a topic with a unique name that starts with ``prefix`` and return the name."""
        return self.create_topic(f"{prefix}-{uuid.uuid4().hex[:10]}", partitions)

    def topics(self) -> set[str]:
        """Return the names of the topics that exist."""
        metadata = self._admin_client().list_topics(timeout=_REQUEST_TIMEOUT_S)
        return set(metadata.topics)

    def partitions(self, topic: str) -> int:
        """Return the partition count of ``topic``; raises ``ValueError`` if it does not exist."""
        metadata = self._admin_client().list_topics(topic=topic, timeout=_REQUEST_TIMEOUT_S)
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise ValueError(
                f"topic {topic!r} not found on {self.bootstrap_servers}; create it with create_topic() first"
            )
        return len(found.partitions)

    def send(
        self,
        topic: str,
        value: bytes | str | Mapping[str, Any] | Sequence[Any] | None,
        *,
        key: bytes | str | None = None,
        headers: HeadersArgument | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> StoredRecord:
        """Produce one record, wait for the broker's acknowledgement and return the record.

        Raises ``KafkaBrokerError`` if the broker rejects the record or does not acknowledge it.
        """
        producer = self._producer_client()
        reports: list[tuple[Any, Message | None]] = []
        options: dict[str, Any] = {}
        if partition is not None:
            options["partition"] = partition
        if timestamp_ms is not None:
            options["timestamp"] = timestamp_ms
        producer.produce(
            topic,
            value=encode_value(value),
            key=encode_key(key),
            headers=list(encode_headers(headers)),
            on_delivery=lambda error, message: reports.append((error, message)),
            **options,
        )
        producer.flush(_REQUEST_TIMEOUT_S)
        if not reports:
            raise KafkaBrokerError(f"record to {topic} not acknowledged within {_REQUEST_TIMEOUT_S:.0f}s")
        error, message = reports[0]
        if error is not None or message is None:
            raise KafkaBrokerError(f"record to {topic} was not delivered: {error}")
        return _stored(message)

    def records(self, topic: str) -> list[StoredRecord]:
        """Return every record of ``topic`` up to its current end, ordered by partition and offset."""
        ends = self.end_offsets(topic)
        nonempty = {partition: end for partition, end in ends.items() if end > 0}
        if not nonempty:
            return []

        reader = self._reader_client()
        found: list[StoredRecord] = []
        with self._lock:
            reader.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in nonempty])
            try:
                found = self._read_until(reader, topic, nonempty)
            finally:
                reader.unassign()
        return sorted(found, key=lambda record: (record.partition, record.offset))

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Return the next offset to be written per partition (the high watermark)."""
        count = self.partitions(topic)
        reader = self._reader_client()
        with self._lock:
            return {
                partition: int(
                    reader.get_watermark_offsets(TopicPartition(topic, partition), timeout=_REQUEST_TIMEOUT_S)[1]
                )
                for partition in range(count)
            }

    # --- consumer groups -------------------------------------------------------------

    def committed(self, group_id: str, topic: str) -> dict[int, int]:
        """Return group ``group_id``'s committed offset per partition of ``topic``; partitions with none are absent."""
        partitions = [TopicPartition(topic, partition) for partition in range(self.partitions(topic))]
        request = [ConsumerGroupTopicPartitions(group_id, partitions)]
        futures = self._admin_client().list_consumer_group_offsets(request, request_timeout=_REQUEST_TIMEOUT_S)
        result = futures[group_id].result(timeout=_REQUEST_TIMEOUT_S + 5.0)
        return {tp.partition: tp.offset for tp in result.topic_partitions if tp.offset >= 0}

    def transport(self, group_id: str, **options: Any) -> KafkaTransport:
        """Return a transport for this broker and ``group_id``; ``options`` are more ``KafkaSettings`` fields."""
        return KafkaTransport(self.kafka_settings(group_id, **options))

    def lag(self, group_id: str, topic: str) -> dict[int, int]:
        """Return the records per partition of ``topic`` past group ``group_id``'s committed offset."""
        from llm_kafka.testing.settle import consumer_lag

        return consumer_lag(self, group_id, topic)

    def run_until_settled(self, pipeline: Pipeline, timeout_s: float = 60.0) -> SettledRun:
        """Run ``pipeline`` until every input record is settled, then stop it.

        See ``llm_kafka.testing.settle.run_until_settled`` for what settled means.
        """
        from llm_kafka.testing.settle import run_until_settled

        return run_until_settled(self, pipeline, timeout_s=timeout_s)

    # --- clients ---------------------------------------------------------------------

    def _admin_client(self) -> AdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
            return self._admin

    def _producer_client(self) -> Producer:
        with self._lock:
            if self._producer is None:
                config = {"bootstrap.servers": self.bootstrap_servers, "enable.idempotence": True, "acks": "all"}
                self._producer = Producer(config)
            return self._producer

    def _reader_client(self) -> Consumer:
        with self._lock:
            if self._reader is None:
                self._reader = Consumer(
                    {
                        "bootstrap.servers": self.bootstrap_servers,
                        "group.id": f"llm-kafka-test-reader-{uuid.uuid4().hex}",
                        "enable.auto.commit": False,
                        "enable.partition.eof": False,
                    }
                )
            return self._reader

    def _read_until(self, reader: Consumer, topic: str, ends: dict[int, int]) -> list[StoredRecord]:
        found: list[StoredRecord] = []
        # Each poll waits at most 0.2 s, so this many polls bound the read to _REQUEST_TIMEOUT_S.
        for _ in range(int(_REQUEST_TIMEOUT_S / 0.2)):
            for message in reader.consume(num_messages=500, timeout=0.2):
                if message.error() is not None:
                    logger.warning("reading %s: %s", topic, message.error())
                    continue
                record = _stored(message)
                if record.offset < ends[record.partition]:
                    found.append(record)
            # The position, not the last offset read, passes offsets that hold no record
            # (transaction markers), so a read of a transactional topic also ends.
            positions = reader.position([TopicPartition(topic, partition) for partition in ends])
            if all(tp.offset >= ends[tp.partition] for tp in positions):
                return found
        raise KafkaBrokerError(f"reading {topic} up to end offsets {ends} timed out after {_REQUEST_TIMEOUT_S:.0f}s")


def _stored(message: Message) -> StoredRecord:
    timestamp_type, timestamp = message.timestamp()
    headers = cast("list[tuple[str, bytes | None]]", message.headers() or [])
    return StoredRecord(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        value=message.value(),
        headers=tuple(headers),
        timestamp_ms=timestamp if timestamp_type else None,
    )
