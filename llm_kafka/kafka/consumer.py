"""``KafkaConsumerWorker``: the confluent-kafka consumer with llm-kafka's commit rules.

It owns subscription, polling, rebalance callbacks and synchronous commits. Auto-commit
and the automatic offset store are always off; offsets are committed explicitly as
``offset + 1`` of the last finished message. All methods must be called from one thread,
the pipeline's poll thread, because librdkafka runs rebalance callbacks inside ``poll``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as ConfluentKafkaError

from llm_kafka.config import KafkaSettings
from llm_kafka.errors import CommitError, KafkaError

logger = logging.getLogger(__name__)

# librdkafka's own log lines go through Python logging instead of straight to stderr.
LIBRDKAFKA_LOGGER = logging.getLogger("llm_kafka.librdkafka")

PartitionsCallback = Callable[[list[tuple[str, int]]], None]


class KafkaConsumerWorker:
    """Consumes records for the pipeline.

    ``on_assign``, ``on_revoke`` and ``on_lost`` receive ``(topic, partition)`` lists and run
    on the poll thread inside ``poll``. ``on_revoke`` is the last chance to commit the
    revoked partitions' offsets.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
        on_lost: PartitionsCallback | None = None,
    ) -> None:
        self._config = settings.consumer_config()
        self._config.setdefault("partition.assignment.strategy", "cooperative-sticky")
        self._config.setdefault("error_cb", self._log_client_error)
        self._config.setdefault("logger", LIBRDKAFKA_LOGGER)
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._on_lost = on_lost
        self._consumer = Consumer(self._config)
        self._closed = False

    def subscribe(self, topics: Iterable[str]) -> None:
        """Join the group for ``topics``; assignment happens during later ``poll`` calls."""
        self._consumer.subscribe(
            list(topics),
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
        )

    def poll(self, timeout: float) -> Message | None:
        """Return the next record, or None if none arrived within ``timeout`` seconds.

        Partition-end events are skipped. A fatal client error raises ``KafkaError``; other
        client errors are logged and return None.
        """
        message = self._consumer.poll(timeout)
        if message is None:
            return None
        error = message.error()
        if error is None:
            return message
        if error.code() == ConfluentKafkaError._PARTITION_EOF:
            return None
        if error.fatal():
            raise KafkaError(f"fatal consumer error: {error}")
        logger.warning(
            "consumer error on topic=%s partition=%s: %s",
            message.topic(),
            message.partition(),
            error,
        )
        return None

    def commit(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Commit ``offsets`` (the next offset to read per partition) synchronously.

        Raises ``CommitError`` when the broker rejects the commit.
        """
        if not offsets:
            return
        partitions = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in offsets.items()
        ]
        try:
            results = self._consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as error:
            raise CommitError(f"commit of {dict(offsets)} failed: {error}") from error
        failed = [tp for tp in results or [] if tp.error is not None]
        if failed:
            details = ", ".join(
                f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed
            )
            raise CommitError(f"commit failed for {details}")

    def close(self) -> None:
        """Leave the group and close the client; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._consumer.close()

    def _assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        logger.info("partitions assigned: %s", keys)
        if self._on_assign is not None:
            self._on_assign(keys)

    def _revoked(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        logger.info("partitions revoked: %s", keys)
        if self._on_revoke is not None:
            self._on_revoke(keys)

    def _lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        logger.warning("partitions lost: %s", keys)
        if self._on_lost is not None:
            self._on_lost(keys)

    @staticmethod
    def _log_client_error(error: ConfluentKafkaError) -> None:
        logger.warning("consumer client error: %s", error)
