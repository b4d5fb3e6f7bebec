"""The transport seam: what the engine needs from a consumer and a producer.

``KafkaConsumerWorker`` and ``KafkaProducerWorker`` implement these protocols on a real
broker; ``llm_kafka.testing`` implements them in memory. The engine imports only this
module, so it runs unchanged on either.

Threading contract: every ``ConsumerPort`` method is called from the engine's poll thread,
and the partition callbacks run on that thread inside ``poll_batch``. ``ProducerPort.produce``
may be called from any thread; ``on_delivery`` runs on a thread the producer owns, never
inside ``produce``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from llm_kafka.errors import DeliveryError
from llm_kafka.processor import RecordInfo

TopicPartition = tuple[str, int]
PartitionsCallback = Callable[[list[TopicPartition]], None]
DeliveryCallback = Callable[[DeliveryError | None], None]
Headers = Sequence[tuple[str, bytes | str | None]]


@dataclass(frozen=True)
class ConsumedRecord:
    """One consumed record: its identity and its raw value."""

    info: RecordInfo
    value: bytes | None


@dataclass(frozen=True)
class CommittedOffset:
    """A partition's committed offset and the metadata string stored with it."""

    offset: int
    metadata: str = ""


class ConsumerPort(Protocol):
    """A group consumer with manual commits and pause/resume."""

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
    ) -> None:
        """Join the group; the callbacks run later, inside ``poll_batch``."""

    def poll_batch(self, max_records: int, timeout: float) -> list[ConsumedRecord]:
        """Return up to ``max_records`` records, waiting at most ``timeout`` seconds.

        Must be called regularly even when the engine takes nothing new: it serves group
        heartbeats' deadline (``max.poll.interval.ms``) and the partition callbacks. A
        paused partition returns no records. Raises ``KafkaError`` on a fatal client error.
        """

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop fetching ``partitions`` until ``resume``; records already fetched are kept."""

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        """Fetch ``partitions`` again."""

    def committed(self, partitions: Sequence[TopicPartition], timeout: float) -> dict[TopicPartition, CommittedOffset]:
        """Return the group's committed offsets of ``partitions``; partitions with none are absent."""

    def commit(self, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        """Commit synchronously; raise ``CommitError`` if the broker rejects it."""

    def close(self) -> None:
        """Leave the group and release the client; safe to call twice."""


class ProducerPort(Protocol):
    """A producer that reports every record's delivery exactly once."""

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback,
    ) -> None:
        """Queue one record; may block while the local queue is full.

        Raises ``OutputTooLargeError`` at once for a record over the size limit and
        ``DeliveryError`` if the record cannot be queued.
        """

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for queued records; return how many remain."""

    def topics(self, timeout: float) -> set[str]:
        """Return the names of the topics that exist."""

    def close(self, timeout: float) -> int:
        """Flush, then release the client; return the records never delivered."""


class Transport(Protocol):
    """Builds the consumer and producer of one pipeline run."""

    name: str

    def consumer(self) -> ConsumerPort:
        """Return a new consumer for the pipeline's group."""

    def producer(self) -> ProducerPort:
        """Return a new producer."""
