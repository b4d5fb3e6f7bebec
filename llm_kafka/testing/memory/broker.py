"""``InMemoryBroker``: topics, consumer groups and injectable faults in one process.

The broker owns the partition logs (key-hash partitioning, offsets, headers, timestamps),
each group's committed offsets and assignment, and the faults a test injects. Its clients
are ``InMemoryConsumer`` and ``InMemoryProducer``, built through ``InMemoryTransport``.
One lock guards all state; a condition on it wakes consumers when records or members change.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llm_kafka.engine.transport import CommittedOffset, TopicPartition
from llm_kafka.errors import CommitError, DeliveryError
from llm_kafka.testing.memory.group import ConsumerGroup
from llm_kafka.testing.records import (
    HeadersArgument,
    RecordHeaders,
    StoredRecord,
    encode_headers,
    encode_key,
    encode_value,
)

if TYPE_CHECKING:
    from llm_kafka.pipeline import Pipeline
    from llm_kafka.testing.memory.transport import InMemoryTransport
    from llm_kafka.testing.settle import SettledRun

DEFAULT_MAX_MESSAGE_BYTES = 1_000_000
"""librdkafka's default ``message.max.bytes``: a larger record raises ``OutputTooLargeError``."""

DEFAULT_MAX_POLL_INTERVAL_S = 300.0
"""Kafka's default ``max.poll.interval.ms``: a member that polls less often is expelled."""


@dataclass
class _Fault:
    remaining: int | None
    retryable: bool = False

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class InMemoryBroker:
    """Kafka topics and consumer groups kept in memory, for tests without a broker.

    Example::

        broker = InMemoryBroker()
        broker.create_topic("reviews", partitions=2)
        broker.send("reviews", {"id": "1", "content": "great"}, key="user-1")
        transport = broker.transport("my-group")  # pass to Pipeline(..., transport=...)

    ``max_message_bytes`` limits one produced record (value, key and headers together).
    ``max_poll_interval_s`` expels a group member that does not poll for that long, as
    Kafka does. Its partitions go to the other members, and its next poll reports them lost.
    """

    def __init__(
        self,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_poll_interval_s: float = DEFAULT_MAX_POLL_INTERVAL_S,
    ) -> None:
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be at least 1, got {max_message_bytes}")
        if max_poll_interval_s <= 0:
            raise ValueError(f"max_poll_interval_s must be positive, got {max_poll_interval_s}")
        self.max_message_bytes = max_message_bytes
        self.max_poll_interval_s = max_poll_interval_s
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._logs: dict[str, list[list[StoredRecord]]] = {}
        self._null_key_partitions: dict[str, itertools.cycle[int]] = {}
        self._groups: dict[str, ConsumerGroup] = {}
        self._delivery_faults: dict[str, _Fault] = {}
        self._commit_faults: dict[str, _Fault] = {}

    def __repr__(self) -> str:
        with self._lock:
            return f"InMemoryBroker(topics={sorted(self._logs)}, groups={sorted(self._groups)})"

    # --- topics and records ----------------------------------------------------------

    def create_topic(self, name: str, partitions: int = 1) -> str:
        """Create topic ``name`` with ``partitions`` partitions and return its name.

        Raises ``ValueError`` if the topic exists, as Kafka rejects it with TOPIC_ALREADY_EXISTS.
        """
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        with self._changed:
            if name in self._logs:
                raise ValueError(f"topic {name!r} already exists")
            self._logs[name] = [[] for _ in range(partitions)]
            self._null_key_partitions[name] = itertools.cycle(range(partitions))
            self._changed.notify_all()
        return name

    def new_topic(self, prefix: str = "topic", partitions: int = 1) -> str:
        """Create a topic with a unique name that starts with ``prefix`` and return the name."""
        return self.create_topic(f"{prefix}-{uuid.uuid4().hex[:10]}", partitions)

    def topics(self) -> set[str]:
        """Return the names of the topics that exist."""
        with self._lock:
            return set(self._logs)

    def partitions(self, topic: str) -> int:
        """Return the partition count of ``topic``; raises ``ValueError`` if it does not exist."""
        with self._lock:
            return len(self._require_topic(topic))

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
        """Append one record at once and return it, with its partition and offset.

        ``value`` is bytes, text (encoded as UTF-8) or a JSON-serializable object. Without
        ``partition`` the key picks the partition as ``KafkaTestBroker.send`` does.
        """
        return self._append(
            topic, encode_value(value), encode_key(key), encode_headers(headers), partition, timestamp_ms
        )

    def records(self, topic: str) -> list[StoredRecord]:
        """Return every record of ``topic``, ordered by partition and then offset."""
        with self._lock:
            return [record for log in self._require_topic(topic) for record in log]

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Return the next offset to be written per partition (Kafka's high watermark)."""
        with self._lock:
            return {partition: len(log) for partition, log in enumerate(self._require_topic(topic))}

    # --- consumer groups -------------------------------------------------------------

    def transport(self, group_id: str, *, auto_offset_reset: str = "earliest") -> InMemoryTransport:
        """Return a transport whose consumers join group ``group_id`` on this broker."""
        from llm_kafka.testing.memory.transport import InMemoryTransport

        return InMemoryTransport(self, group_id, auto_offset_reset=auto_offset_reset)

    def committed(self, group_id: str, topic: str) -> dict[int, int]:
        """Return group ``group_id``'s committed offset per partition of ``topic``.

        Partitions without a commit are absent, so an empty dict means nothing was committed.
        """
        return {partition: entry.offset for partition, entry in self.committed_offsets(group_id, topic).items()}

    def committed_offsets(self, group_id: str, topic: str) -> dict[int, CommittedOffset]:
        """Return the committed offsets of ``topic`` with the metadata stored beside them."""
        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                return {}
            return {partition: entry for (name, partition), entry in group.committed.items() if name == topic}

    def assignment(self, group_id: str) -> dict[str, set[TopicPartition]]:
        """Return the partitions each current member of ``group_id`` consumes, by member id."""
        with self._lock:
            group = self._groups.get(group_id)
            if group is None:
                return {}
            return {member_id: set(member.owned) for member_id, member in group.members.items()}

    def expel_members(self, group_id: str) -> None:
        """Expel every member of ``group_id``, as a missed ``max.poll.interval.ms`` would.

        Each consumer calls ``on_lost`` for its partitions at its next poll and then rejoins.
        """
        with self._changed:
            group = self._groups.get(group_id)
            if group is None:
                return
            for member in list(group.members.values()):
                group.expel(member)
            self._changed.notify_all()

    def lag(self, group_id: str, topic: str) -> dict[int, int]:
        """Return the records per partition of ``topic`` past group ``group_id``'s committed offset."""
        from llm_kafka.testing.settle import consumer_lag

        return consumer_lag(self, group_id, topic)

    def run_until_settled(self, pipeline: Pipeline, timeout_s: float = 10.0) -> SettledRun:
        """Run ``pipeline`` on its thread until every input record is settled, then stop it.

        See ``llm_kafka.testing.settle.run_until_settled`` for what settled means.
        """
        from llm_kafka.testing.settle import run_until_settled

        return run_until_settled(self, pipeline, timeout_s=timeout_s)

    # --- faults ----------------------------------------------------------------------

    def fail_delivery(self, topic: str, count: int | None = None, *, retryable: bool = False) -> None:
        """Fail the delivery of the next ``count`` records produced to ``topic`` (all if None).

        The producer reports each as a ``DeliveryError`` with the given ``retryable`` flag,
        and the record is not written.
        """
        with self._lock:
            self._delivery_faults[topic] = _Fault(count, retryable)

    def fail_commits(self, group_id: str, count: int | None = None) -> None:
        """Raise ``CommitError`` from the next ``count`` commits of ``group_id`` (all if None)."""
        with self._lock:
            self._commit_faults[group_id] = _Fault(count)

    def clear_faults(self) -> None:
        """Remove every injected delivery and commit fault."""
        with self._lock:
            self._delivery_faults.clear()
            self._commit_faults.clear()

    # --- used by the in-memory clients -----------------------------------------------

    def _require_topic(self, topic: str) -> list[list[StoredRecord]]:
        try:
            return self._logs[topic]
        except KeyError:
            raise ValueError(f"topic {topic!r} not found; create it with create_topic() first") from None

    def _append(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        headers: RecordHeaders,
        partition: int | None = None,
        timestamp_ms: int | None = None,
    ) -> StoredRecord:
        with self._changed:
            logs = self._require_topic(topic)
            if partition is None:
                partition = self._partition_for(topic, key, len(logs))
            if not 0 <= partition < len(logs):
                raise ValueError(f"partition {partition} not found in topic {topic!r} with {len(logs)} partitions")
            log = logs[partition]
            record = StoredRecord(
                topic=topic,
                partition=partition,
                offset=len(log),
                key=key,
                value=value,
                headers=headers,
                timestamp_ms=int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            )
            log.append(record)
            self._changed.notify_all()
            return record

    def _partition_for(self, topic: str, key: bytes | None, count: int) -> int:
        # CRC-32 of the key, as librdkafka's default partitioner (consistent_random) does,
        # so a key lands on the same partition as with the real producer. librdkafka spreads
        # null keys at random; round-robin here keeps tests repeatable.
        if key is None or key == b"":
            return next(self._null_key_partitions[topic])
        return zlib.crc32(key) % count

    def _group(self, group_id: str) -> ConsumerGroup:
        group = self._groups.get(group_id)
        if group is None:
            group = self._groups[group_id] = ConsumerGroup(group_id)
        return group

    def _partitions_of(self, topics: Iterable[str]) -> list[TopicPartition]:
        return sorted(
            (topic, partition)
            for topic in set(topics)
            if topic in self._logs
            for partition in range(len(self._logs[topic]))
        )

    def _delivery_fault(self, topic: str) -> DeliveryError | None:
        with self._lock:
            fault = self._delivery_faults.get(topic)
            if fault is None or not fault.take():
                return None
            return DeliveryError(
                f"delivery to {topic} failed: injected by InMemoryBroker.fail_delivery", retryable=fault.retryable
            )

    def _check_commit_fault(self, group_id: str) -> None:
        fault = self._commit_faults.get(group_id)
        if fault is not None and fault.take():
            raise CommitError(f"commit of group {group_id} failed: injected by InMemoryBroker.fail_commits")
