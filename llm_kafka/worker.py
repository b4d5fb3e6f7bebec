"""``PipelineWorker``: the poll, dispatch, produce and commit loop on one thread.

The loop polls a record, registers its offset as pending, has the ``MessageHandler`` process
it on the event loop, and produces the output or dead-letter record. The offset becomes
committable only when that record's delivery report arrives (on the producer's thread).
Offsets are committed on a timer, on revoke and at shutdown; a dead-letter record that
cannot be delivered stops the worker with its offset uncommitted.

NOTE: records are processed one at a time. One call longer than max.poll.interval.ms
still evicts the consumer, until concurrent dispatch with paused partitions replaces this loop.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from confluent_kafka import Message

from llm_kafka.config import PipelineSettings
from llm_kafka.engine.handler import Failure, MessageHandler, Outcome
from llm_kafka.engine.offsets import OffsetTracker, TopicPartition
from llm_kafka.errors import (
    CommitError,
    DeliveryError,
    KafkaError,
    LLMKafkaError,
    OutputTooLargeError,
)
from llm_kafka.kafka.consumer import KafkaConsumerWorker
from llm_kafka.kafka.dead_letter import FailureInfo, dead_letter_headers
from llm_kafka.kafka.producer import KafkaProducerWorker
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.processor import RecordInfo

logger = logging.getLogger(__name__)

HEADER_OUTPUT_SOURCE = "llm_kafka.source"

SubmitCoroutine = Callable[
    [Coroutine[Any, Any, Outcome]], "concurrent.futures.Future[Outcome]"
]


def record_info(message: Message) -> RecordInfo:
    """Return the identity of a consumed record."""
    timestamp_type, timestamp = message.timestamp()
    return RecordInfo(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        headers=tuple(cast("list[tuple[str, bytes | None]]", message.headers() or [])),
        timestamp_ms=timestamp if timestamp_type else None,
    )


class PipelineWorker:
    """Runs the consume-process-produce loop until ``request_stop`` is called.

    ``run`` blocks the calling thread and must be the only user of the consumer. Handler
    coroutines go to ``submit``, which schedules them on the pipeline's event loop.
    """

    def __init__(
        self,
        settings: PipelineSettings,
        consumer_factory: Callable[..., KafkaConsumerWorker],
        producer: KafkaProducerWorker,
        handler: MessageHandler,
        submit: SubmitCoroutine,
        metrics: MetricsCollector,
    ) -> None:
        self._settings = settings
        self._producer = producer
        self._handler = handler
        self._submit = submit
        self._metrics = metrics
        self._offsets = OffsetTracker()
        self._stop = threading.Event()
        self._fatal: BaseException | None = None
        self._fatal_lock = threading.Lock()
        self._consumer = consumer_factory(
            on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def request_stop(self) -> None:
        """Ask the loop to finish the current record and shut down; returns at once."""
        self._stop.set()

    def run(self) -> None:
        """Consume until stopped, then flush, commit and close. Re-raises a fatal error."""
        self._consumer.subscribe(self._settings.input_topics)
        logger.info("pipeline worker started on topics %s", self._settings.input_topics)
        next_commit = time.monotonic() + self._settings.commit_interval_s
        try:
            while not self._stop.is_set() and self._fatal is None:
                message = self._consumer.poll(self._settings.poll_timeout_s)
                if message is not None:
                    self._process(message)
                if time.monotonic() >= next_commit:
                    self._commit()
                    next_commit = time.monotonic() + self._settings.commit_interval_s
        finally:
            self._shutdown()
        if self._fatal is not None:
            raise self._fatal

    def _process(self, message: Message) -> None:
        record = record_info(message)
        self._offsets.register(record.topic, record.partition, record.offset)
        self._metrics.increment("messages.consumed", attributes={"topic": record.topic})

        future = self._submit(self._handler.handle(record, message.value()))
        try:
            outcome = future.result(timeout=self._settings.message_timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            error = TimeoutError(
                f"processing took longer than message_timeout_s={self._settings.message_timeout_s}s"
            )
            logger.warning(
                "message timed out; sending it to the dead-letter topic: %s",
                record.describe(),
            )
            outcome = Failure(error, "-", None, "process", 1)

        if isinstance(outcome, Failure):
            self._dead_letter(record, message.value(), outcome)
        else:
            self._send_output(
                record,
                message.value(),
                outcome.value,
                outcome.processor,
                outcome.message_id,
            )

    def _send_output(
        self,
        record: RecordInfo,
        original: bytes | None,
        value: bytes,
        processor: str,
        message_id: str | None,
    ) -> None:
        headers = [
            *record.headers,
            (
                HEADER_OUTPUT_SOURCE,
                f"{record.topic}/{record.partition}/{record.offset}".encode(),
            ),
        ]

        def delivered(error: DeliveryError | None, _: Message | None) -> None:
            if error is None:
                self._done(record, "messages.processed", processor)
                return
            logger.error(
                "output delivery failed (%s); dead-lettering: %s",
                error,
                record.describe(message_id),
            )
            self._dead_letter(
                record, original, Failure(error, processor, message_id, "deliver", 1)
            )

        try:
            self._producer.produce(
                self._settings.output_topic,
                value,
                key=record.key,
                headers=headers,
                on_delivery=delivered,
            )
        except (OutputTooLargeError, DeliveryError) as error:
            logger.warning(
                "output not produced (%s); dead-lettering: %s",
                error,
                record.describe(message_id),
            )
            self._dead_letter(
                record, original, Failure(error, processor, message_id, "produce", 1)
            )

    def _dead_letter(
        self, record: RecordInfo, value: bytes | None, failure: Failure
    ) -> None:
        info = FailureInfo(
            error_type=failure.error_type,
            error_message=str(failure.error),
            attempts=failure.attempts,
            processor=failure.processor,
            message_id=failure.message_id,
            raw_output=failure.raw_output,
        )

        def delivered(error: DeliveryError | None, _: Message | None) -> None:
            if error is None:
                self._done(record, "messages.dead_lettered", failure.processor)
                return
            self._fail(
                KafkaError(
                    f"dead-letter delivery failed, offset left uncommitted: {error}"
                ),
                record,
                failure.message_id,
            )

        try:
            self._producer.produce(
                self._settings.dead_letter_topic,
                value,
                key=record.key,
                headers=dead_letter_headers(record, info),
                on_delivery=delivered,
            )
        except LLMKafkaError as error:
            self._fail(error, record, failure.message_id)

    def _done(self, record: RecordInfo, counter: str, processor: str) -> None:
        self._offsets.mark_done(record.topic, record.partition, record.offset)
        self._metrics.increment(
            counter, attributes={"topic": record.topic, "processor": processor}
        )

    def _fail(
        self, error: BaseException, record: RecordInfo, message_id: str | None
    ) -> None:
        logger.error(
            "stopping the pipeline: %s: %s", error, record.describe(message_id)
        )
        with self._fatal_lock:
            if self._fatal is None:
                self._fatal = error
        self._stop.set()

    def _commit(self, partitions: list[TopicPartition] | None = None) -> None:
        candidates = self._offsets.commit_candidates()
        if partitions is not None:
            candidates = {
                key: offset for key, offset in candidates.items() if key in partitions
            }
        if not candidates:
            return
        started = time.perf_counter()
        try:
            self._consumer.commit(candidates)
        except CommitError as error:
            self._metrics.increment("commits.failed")
            logger.error(
                "offset commit failed; it is retried at the next commit: %s", error
            )
            return
        self._metrics.record_duration("commit.latency", time.perf_counter() - started)
        self._offsets.mark_committed(candidates)
        logger.debug("committed offsets %s", candidates)

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        self._metrics.increment("rebalances.assigned", len(partitions))

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        self._metrics.increment("rebalances.revoked", len(partitions))
        # Deliveries of revoked partitions' records must finish before their final commit.
        remaining = self._producer.flush(self._settings.shutdown_timeout_s)
        if remaining:
            logger.warning(
                "%d records still undelivered at revoke; their offsets stay uncommitted",
                remaining,
            )
        try:
            self._commit(partitions)
        finally:
            self._offsets.forget(partitions)

    def _on_lost(self, partitions: list[TopicPartition]) -> None:
        self._offsets.forget(partitions)

    def _shutdown(self) -> None:
        logger.info("pipeline worker stopping")
        remaining = self._producer.flush(self._settings.shutdown_timeout_s)
        if remaining:
            logger.error(
                "%d records were not delivered before shutdown; their offsets stay uncommitted",
                remaining,
            )
        try:
            self._commit()
        finally:
            self._consumer.close()
        logger.info("pipeline worker stopped")
