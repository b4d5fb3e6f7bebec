"""``KafkaConsumerWorker``: the confluent-kafka consumer with llm-kafka's commit rules.

It owns subscription, polling, pausing, rebalance callbacks and synchronous commits, and
implements ``ConsumerPort``. Auto-commit and the automatic offset store are always off;
the engine commits offsets explicitly. All methods must be called from one thread, the
pipeline's poll thread, because librdkafka runs rebalance callbacks inside ``poll``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as ConfluentKafkaError

from llm_kafka.config import KafkaSettings
from llm_kafka.engine.transport import CommittedOffset, ConsumedRecord, PartitionsCallback
from llm_kafka.engine.transport import TopicPartition as PartitionKey
from llm_kafka.errors import CommitError, KafkaError
from llm_kafka.processor import RecordInfo

logger = logging.getLogger(__name__)

# librdkafka's own log lines go through Python logging instead of straight to stderr.
LIBRDKAFKA_LOGGER = logging.getLogger("llm_kafka.librdkafka")

# Prefetch limits. librdkafka's defaults (100,000 records or 64 MiB per client) would let
# a large backlog fill memory while the engine keeps its own bounded buffer; these keep
# the client's read-ahead to a few MiB. A partition whose prefetch queue is full waits
# fetch.queue.backoff.ms before it checks again, and that wait also delays the first fetch
# after the engine resumes the partition: librdkafka's default of 1000 ms left the W1
# benchmark idle for most of each second. All three can be overridden in KafkaSettings.consumer.
_PREFETCH_DEFAULTS = {"queued.max.messages.kbytes": 8192, "queued.min.messages": 1000, "fetch.queue.backoff.ms": 10}


def to_consumed_record(message: Message) -> ConsumedRecord:
    """Return the engine's view of a confluent-kafka record."""
    timestamp_type, timestamp = message.timestamp()
    info = RecordInfo(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        headers=tuple(cast("list[tuple[str, bytes | None]]", message.headers() or [])),
        timestamp_ms=timestamp if timestamp_type else None,
    )
    return ConsumedRecord(info, message.value())


def _with_metadata(topic: str, partition: int, committed: CommittedOffset) -> TopicPartition:
    # confluent-kafka rejects metadata=None, so the argument is passed only when there is some.
    if committed.metadata:
        return TopicPartition(topic, partition, committed.offset, metadata=committed.metadata)
    return TopicPartition(topic, partition, committed.offset)


def _partitions(keys: Iterable[PartitionKey]) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for topic, partition in keys]


class KafkaConsumerWorker:
    """Consumes records for the pipeline.

    The partition callbacks given to ``subscribe`` receive ``(topic, partition)`` lists and
    run on the poll thread inside ``poll_batch``. The revoke callback is the last chance to
    commit the revoked partitions' offsets.
    """

    def __init__(self, settings: KafkaSettings) -> None:
        self._config = {**_PREFETCH_DEFAULTS, **settings.consumer_config()}
        self._config.setdefault("partition.assignment.strategy", "cooperative-sticky")
        self._config.setdefault("error_cb", self._log_client_error)
        self._config.setdefault("logger", LIBRDKAFKA_LOGGER)
        self._consumer = Consumer(self._config)
        self._closed = False

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
    ) -> None:
        """Join the group for ``topics``; assignment happens during later polls."""

        def callback(event: str, handler: PartitionsCallback) -> Any:
            def run(consumer: Any, partitions: list[TopicPartition]) -> None:
                keys = [(tp.topic, tp.partition) for tp in partitions]
                log = logger.warning if event == "lost" else logger.info
                log("partitions %s: %s", event, keys)
                handler(keys)

            return run

        self._consumer.subscribe(
            list(topics),
            on_assign=callback("assigned", on_assign),
            on_revoke=callback("revoked", on_revoke),
            on_lost=callback("lost", on_lost),
        )

    def poll_batch(self, max_records: int, timeout: float) -> list[ConsumedRecord]:
        """Return up to ``max_records`` records, waiting at most ``timeout`` seconds.

        Partition-end events are skipped. A fatal client error raises ``KafkaError``; other
        client errors are logged and skipped.
        """
        records = []
        for message in self._consumer.consume(num_messages=max_records, timeout=timeout):
            error = message.error()
            if error is None:
                records.append(to_consumed_record(message))
                continue
            if error.code() == ConfluentKafkaError._PARTITION_EOF:
                continue
            if error.fatal():
                raise KafkaError(f"fatal consumer error: {error}")
            logger.warning("consumer error on topic=%s partition=%s: %s", message.topic(), message.partition(), error)
        return records

    def pause(self, partitions: Sequence[PartitionKey]) -> None:
        """Stop fetching ``partitions`` until ``resume``."""
        if partitions:
            self._consumer.pause(_partitions(partitions))

    def resume(self, partitions: Sequence[PartitionKey]) -> None:
        """Fetch ``partitions`` again."""
        if partitions:
            self._consumer.resume(_partitions(partitions))

    def committed(self, partitions: Sequence[PartitionKey], timeout: float) -> dict[PartitionKey, CommittedOffset]:
        """Return the group's committed offsets and metadata; partitions with none are absent."""
        if not partitions:
            return {}
        try:
            results = self._consumer.committed(_partitions(partitions), timeout=timeout)
        except KafkaException as error:
            logger.warning("could not read committed offsets of %s: %s", list(partitions), error)
            return {}
        return {
            (tp.topic, tp.partition): CommittedOffset(tp.offset, tp.metadata or "")
            for tp in results
            if tp.error is None and tp.offset >= 0
        }

    def commit(self, offsets: Mapping[PartitionKey, CommittedOffset]) -> None:
        """Commit ``offsets`` (the next offset to read per partition) synchronously.

        Raises ``CommitError`` when the broker rejects the commit.
        """
        if not offsets:
            return
        partitions = [_with_metadata(topic, partition, committed) for (topic, partition), committed in offsets.items()]
        try:
            results = self._consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as error:
            raise CommitError(f"commit of {dict(offsets)} failed: {error}") from error
        failed = [tp for tp in results or [] if tp.error is not None]
        if failed:
            details = ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed)
            raise CommitError(f"commit failed for {details}")

    def close(self) -> None:
        """Leave the group and close the client; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._consumer.close()

    @staticmethod
    def _log_client_error(error: ConfluentKafkaError) -> None:
        logger.warning("consumer client error: %s", error)
