"""``HealthReportingTransport``: feeds a ``HealthState`` from the consumer the engine uses.

It wraps any ``Transport`` and reports from its consumer: each ``poll_batch`` call is one
poll-loop turn (``beat``), the partition callbacks keep ``set_assignment`` current, and each
commit's result sets ``set_broker_reachable``. The engine needs no change, so a pipeline
built with ``Pipeline(..., transport=HealthReportingTransport(KafkaTransport(kafka), state))``
serves true liveness and readiness.

NOTE: broker reachability comes only from commit results, so a broker that goes down while
the pipeline has nothing to commit still shows as reachable until the next commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence

from llm_kafka.engine.transport import (
    CommittedOffset,
    ConsumedRecord,
    ConsumerPort,
    PartitionsCallback,
    ProducerPort,
    TopicPartition,
    Transport,
)
from llm_kafka.errors import CommitError
from llm_kafka.observability.health import HealthState

logger = logging.getLogger(__name__)


class HealthReportingTransport:
    """A ``Transport`` whose consumers report into ``health``; producers are passed through."""

    def __init__(self, inner: Transport, health: HealthState) -> None:
        self.inner = inner
        self.health = health
        self.name = inner.name

    def consumer(self) -> ConsumerPort:
        """Return the inner transport's consumer, wrapped to report into ``health``."""
        return _HealthReportingConsumer(self.inner.consumer(), self.health)

    def producer(self) -> ProducerPort:
        """Return the inner transport's producer unchanged."""
        return self.inner.producer()


class _HealthReportingConsumer:
    """Delegates every call to ``inner`` and reports beats, assignment and commit results."""

    def __init__(self, inner: ConsumerPort, health: HealthState) -> None:
        self._inner = inner
        self._health = health
        self._lock = threading.Lock()
        self._assigned: set[TopicPartition] = set()

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
    ) -> None:
        def assigned(partitions: list[TopicPartition]) -> None:
            self._update(added=partitions)
            on_assign(partitions)

        def revoked(partitions: list[TopicPartition]) -> None:
            self._update(removed=partitions)
            on_revoke(partitions)

        def lost(partitions: list[TopicPartition]) -> None:
            self._update(removed=partitions)
            on_lost(partitions)

        self._inner.subscribe(topics, assigned, revoked, lost)

    def poll_batch(self, max_records: int, timeout: float) -> list[ConsumedRecord]:
        records = self._inner.poll_batch(max_records, timeout)
        self._health.beat()
        return records

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        self._inner.pause(partitions)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        self._inner.resume(partitions)

    def committed(self, partitions: Sequence[TopicPartition], timeout: float) -> dict[TopicPartition, CommittedOffset]:
        return self._inner.committed(partitions, timeout)

    def commit(self, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        try:
            self._inner.commit(offsets)
        except CommitError:
            # NOTE: a commit also fails during a rebalance with the brokers up, so readiness
            # may drop until the next successful commit.
            self._health.set_broker_reachable(False)
            raise
        self._health.set_broker_reachable(True)

    def close(self) -> None:
        self._health.set_stopping()
        self._update(clear=True)
        self._inner.close()

    def _update(
        self, added: Sequence[TopicPartition] = (), removed: Sequence[TopicPartition] = (), clear: bool = False
    ) -> None:
        with self._lock:
            self._assigned.update(added)
            self._assigned.difference_update(removed)
            if clear:
                self._assigned.clear()
            count = len(self._assigned)
        self._health.set_assignment(count)
        logger.debug("health: %d partitions assigned", count)
