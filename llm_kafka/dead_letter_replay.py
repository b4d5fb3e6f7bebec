"""``replay_dead_letters``: send dead-letter records back to the topic they came from.

After a bug is fixed, the records it sent to the dead-letter topic can be processed again.
Each replayed record keeps the original key, value and headers; the ``llm_kafka.*`` failure
headers are removed, and an ``llm_kafka.replayed`` header records the replay. The replay
reads with its own consumer group and commits what it has examined, so running it again
replays only records that arrived since.

Which records one run examines: for each partition of the dead-letter topic, from the
group's committed offset (or the start of the partition) up to the end offset read when
the run starts. Records that arrive during the run, such as replayed records that fail
again, wait for the next run, so a replay never chases its own output.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka import KafkaError as ConfluentKafkaError
from opentelemetry import trace

from llm_kafka.config import KafkaSettings
from llm_kafka.errors import CommitError, ConfigurationError, DeliveryError, KafkaError
from llm_kafka.kafka import dead_letter
from llm_kafka.observability.tracing import (
    TRACER_NAME,
    extract_context,
    replace_trace_headers,
)

logger = logging.getLogger(__name__)

HEADER_REPLAYED = "llm_kafka.replayed"
"""Added to every replayed record: JSON with ``count``, ``replayed_at`` (ISO 8601 UTC) and
``dead_letter`` (the dead-letter record as ``topic/partition/offset``)."""

_FAILURE_HEADERS = {
    dead_letter.HEADER_SOURCE_TOPIC,
    dead_letter.HEADER_SOURCE_PARTITION,
    dead_letter.HEADER_SOURCE_OFFSET,
    dead_letter.HEADER_SOURCE_TIMESTAMP,
    dead_letter.HEADER_ERROR_TYPE,
    dead_letter.HEADER_ERROR_MESSAGE,
    dead_letter.HEADER_ATTEMPTS,
    dead_letter.HEADER_PROCESSOR,
    dead_letter.HEADER_MESSAGE_ID,
    dead_letter.HEADER_RAW_OUTPUT,
    HEADER_REPLAYED,
}
_FAILURE_HEADER_PREFIXES = ("llm_kafka.error.", "llm_kafka.source.")

# Records examined between two flush-and-commit steps. A crash replays at most this many
# records twice, because their sends may have landed before the commit.
_COMMIT_EVERY = 500

# How long one send waits for room in a full local producer queue before the run fails.
_QUEUE_FULL_TIMEOUT_S = 60.0

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class ReplayFilter:
    """The selection of dead-letter records to replay. Empty fields match every record.

    ``since`` and ``until`` compare with the dead-letter record's timestamp, the time it
    was dead-lettered; ``since`` is inclusive and ``until`` exclusive.
    """

    error_types: frozenset[str] = frozenset()
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None

    def matches(self, error_type: str | None, timestamp_ms: int | None) -> bool:
        """Return whether a record with this error type and timestamp is replayed."""
        if self.error_types and error_type not in self.error_types:
            return False
        if timestamp_ms is None:
            return self.since is None and self.until is None
        moment = datetime.datetime.fromtimestamp(timestamp_ms / 1000, datetime.timezone.utc)
        if self.since is not None and moment < self.since:
            return False
        return not (self.until is not None and moment >= self.until)


@dataclass(frozen=True)
class ReplayedRecord:
    """One dead-letter record selected for replay, as shown in progress and dry runs."""

    partition: int
    offset: int
    source_topic: str
    error_type: str | None
    message_id: str | None
    key: bytes | None


@dataclass
class ReplayReport:
    """Counts of one replay run."""

    total: int = 0
    """Records between the start and end offsets when the run began."""
    examined: int = 0
    replayed: int = 0
    filtered_out: int = 0
    without_source: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False


def _header(headers: Headers, name: str) -> str | None:
    value = None
    for header_name, raw in headers:
        if header_name == name and raw is not None:
            value = raw
    return None if value is None else value.decode("utf-8", errors="replace")


def _is_failure_header(name: str) -> bool:
    return name in _FAILURE_HEADERS or name.startswith(_FAILURE_HEADER_PREFIXES)


def replay_headers(headers: Headers, dead_letter_position: str, now: datetime.datetime) -> Headers:
    """Return the headers of a replayed record: the original ones plus ``llm_kafka.replayed``."""
    previous = _header(headers, HEADER_REPLAYED)
    count = 1
    if previous is not None:
        try:
            count = int(json.loads(previous)["count"]) + 1
        except (ValueError, KeyError, TypeError):
            count = 1
    marker = {"count": count, "replayed_at": now.isoformat(timespec="seconds"), "dead_letter": dead_letter_position}
    kept = [(name, value) for name, value in headers if not _is_failure_header(name)]
    return [*kept, (HEADER_REPLAYED, json.dumps(marker, separators=(",", ":")).encode("utf-8"))]


def replay_dead_letters(
    kafka: KafkaSettings,
    dead_letter_topic: str,
    *,
    group_id: str | None = None,
    record_filter: ReplayFilter | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    on_record: Callable[[ReplayedRecord], None] | None = None,
    on_progress: Callable[[ReplayReport], None] | None = None,
    idle_timeout_s: float = 30.0,
) -> ReplayReport:
    """Send the selected records of ``dead_letter_topic`` back to their source topics.

    ``group_id`` defaults to ``<kafka.group_id>.dlq-replay``. Records that do not match
    ``record_filter`` are skipped and still committed, so that group does not examine them
    again. To replay them later, use another ``group_id``. ``limit`` stops the run after that
    many records are replayed. ``dry_run`` selects and reports records without sending or
    committing anything. ``on_record`` is called for each selected record and
    ``on_progress`` after each examined one.

    Delivery is at-least-once: a crash or a failed send between two commits sends those
    records again on the next run. Raises ``DeliveryError`` when a send fails (nothing
    after the last commit is committed), ``CommitError`` when the commit fails, and
    ``KafkaError`` when no record arrives for ``idle_timeout_s`` seconds while some are
    still expected.
    """
    record_filter = record_filter or ReplayFilter()
    consumer_config = {
        **kafka.consumer_config(),
        "group.id": group_id or f"{kafka.group_id}.dlq-replay",
        "enable.partition.eof": True,
    }
    consumer = Consumer(consumer_config)
    producer = None if dry_run else Producer(kafka.producer_config())
    report = ReplayReport(dry_run=dry_run)
    try:
        positions, ends = _plan(consumer, dead_letter_topic)
        report.total = sum(ends[partition] - positions[partition] for partition in positions)
        logger.info(
            "replaying %d dead-letter records from %s (group %s)%s",
            report.total,
            dead_letter_topic,
            consumer_config["group.id"],
            " as a dry run" if dry_run else "",
        )
        if report.total == 0:
            return report
        consumer.assign(
            [TopicPartition(dead_letter_topic, partition, offset) for partition, offset in positions.items()]
        )
        run = _ReplayRun(consumer, producer, dead_letter_topic, record_filter, limit, report, on_record, on_progress)
        run.consume(positions, ends, idle_timeout_s)
    finally:
        consumer.close()
        if producer is not None:
            producer.flush(30.0)
    logger.info(
        "replay of %s finished: %d replayed, %d filtered out, %d without a source topic header",
        dead_letter_topic,
        report.replayed,
        report.filtered_out,
        report.without_source,
    )
    return report


def _plan(consumer: Consumer, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """Return the start offset and end offset of every partition with records to examine."""
    metadata = consumer.list_topics(topic, timeout=30.0)
    topic_metadata = metadata.topics.get(topic)
    if topic_metadata is None or topic_metadata.error is not None:
        raise ConfigurationError(f"dead-letter topic {topic!r} not found: check pipeline.dead_letter_topic")

    partitions = sorted(topic_metadata.partitions)
    committed = consumer.committed([TopicPartition(topic, partition) for partition in partitions], timeout=30.0)
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for entry in committed:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, entry.partition), timeout=30.0)
        start = max(entry.offset, low) if entry.offset >= 0 else low
        if start < high:
            starts[entry.partition] = start
            ends[entry.partition] = high
    return starts, ends


class _ReplayRun:
    """The state of one run: positions, pending deliveries and counts."""

    def __init__(
        self,
        consumer: Consumer,
        producer: Producer | None,
        topic: str,
        record_filter: ReplayFilter,
        limit: int | None,
        report: ReplayReport,
        on_record: Callable[[ReplayedRecord], None] | None,
        on_progress: Callable[[ReplayReport], None] | None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._topic = topic
        self._filter = record_filter
        self._limit = limit
        self._report = report
        self._on_record = on_record
        self._on_progress = on_progress
        self._next_offsets: dict[int, int] = {}
        self._delivery_errors: list[str] = []
        self._tracer = trace.get_tracer(TRACER_NAME)

    def consume(self, positions: dict[int, int], ends: dict[int, int], idle_timeout_s: float) -> None:
        pending = set(positions)
        since_commit = 0
        last_record = time.monotonic()
        while pending and not self._limit_reached():
            message = self._consumer.poll(0.5)
            if message is None:
                if time.monotonic() - last_record > idle_timeout_s:
                    raise KafkaError(
                        f"no dead-letter record arrived for {idle_timeout_s:.0f}s with partitions "
                        f"{sorted(pending)} of {self._topic} not read to their end; is the broker reachable?"
                    )
                continue
            last_record = time.monotonic()
            partition = message.partition() or 0
            error = message.error()
            if error is not None:
                if error.code() != ConfluentKafkaError._PARTITION_EOF:
                    raise KafkaError(f"reading {self._topic} failed: {error}")
                if (message.offset() or 0) >= ends.get(partition, 0):
                    pending.discard(partition)
                continue

            offset = message.offset() or 0
            if partition not in pending or offset >= ends[partition]:
                pending.discard(partition)
                continue
            self._examine(message, partition, offset)
            if offset + 1 >= ends[partition]:
                pending.discard(partition)
            since_commit += 1
            if since_commit >= _COMMIT_EVERY:
                self._commit()
                since_commit = 0
        self._commit()

    def _limit_reached(self) -> bool:
        return self._limit is not None and self._report.replayed >= self._limit

    def _examine(self, message: Message, partition: int, offset: int) -> None:
        report = self._report
        report.examined += 1
        self._next_offsets[partition] = offset + 1
        headers = cast(Headers, list(message.headers() or []))
        source_topic = _header(headers, dead_letter.HEADER_SOURCE_TOPIC)
        error_type = _header(headers, dead_letter.HEADER_ERROR_TYPE)
        timestamp_type, timestamp = message.timestamp()

        if not source_topic:
            report.without_source += 1
            logger.warning(
                "skipping dead-letter record without a %s header: topic=%s partition=%d offset=%d",
                dead_letter.HEADER_SOURCE_TOPIC,
                self._topic,
                partition,
                offset,
            )
        elif not self._filter.matches(error_type, timestamp if timestamp_type else None):
            report.filtered_out += 1
        else:
            selected = ReplayedRecord(
                partition,
                offset,
                source_topic,
                error_type,
                _header(headers, dead_letter.HEADER_MESSAGE_ID),
                message.key(),
            )
            if self._producer is not None:
                self._send(message, selected, headers)
            report.replayed += 1
            report.by_topic[source_topic] = report.by_topic.get(source_topic, 0) + 1
            if self._on_record is not None:
                self._on_record(selected)

        if self._on_progress is not None:
            self._on_progress(report)

    def _send(self, message: Message, selected: ReplayedRecord, headers: Headers) -> None:
        assert self._producer is not None
        position = f"{self._topic}/{selected.partition}/{selected.offset}"
        now = datetime.datetime.now(datetime.timezone.utc)
        attributes: dict[str, Any] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.operation.name": "send",
            "messaging.destination.name": selected.source_topic,
            "llm_kafka.replay.dead_letter": position,
        }
        with self._tracer.start_as_current_span(
            f"send {selected.source_topic}",
            context=extract_context(headers),
            kind=trace.SpanKind.PRODUCER,
            attributes=attributes,
        ):
            replayed_headers = replace_trace_headers(replay_headers(headers, position, now))

        def delivered(error: ConfluentKafkaError | None, _: Message | None) -> None:
            if error is not None:
                self._delivery_errors.append(f"{position} -> {selected.source_topic}: {error}")

        deadline = time.monotonic() + _QUEUE_FULL_TIMEOUT_S
        while True:
            try:
                self._producer.produce(
                    selected.source_topic,
                    value=message.value(),
                    key=message.key(),
                    headers=replayed_headers,
                    on_delivery=delivered,
                )
                break
            except BufferError:
                # The local queue is full, so serve delivery reports and try again.
                if time.monotonic() > deadline:
                    raise DeliveryError(
                        f"the producer queue stayed full for {_QUEUE_FULL_TIMEOUT_S:.0f}s while replaying "
                        f"{position}; is the broker reachable?"
                    ) from None
                self._producer.poll(0.5)
            except KafkaException as error:
                raise DeliveryError(f"replaying {position} to {selected.source_topic} failed: {error}") from error
        self._producer.poll(0)

    def _commit(self) -> None:
        if self._producer is None or not self._next_offsets:
            return
        remaining = self._producer.flush(60.0)
        if remaining or self._delivery_errors:
            details = "; ".join(self._delivery_errors[:5]) or f"{remaining} records still queued after 60s"
            raise DeliveryError(
                f"replayed records were not delivered, so the replay position was not committed "
                f"(run again to retry them): {details}"
            )
        offsets = [TopicPartition(self._topic, partition, offset) for partition, offset in self._next_offsets.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            raise CommitError(f"committing the replay position {self._next_offsets} failed: {error}") from error
        logger.debug("committed replay position %s", self._next_offsets)
