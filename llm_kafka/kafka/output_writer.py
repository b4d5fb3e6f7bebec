"""``OutputWriter``: turns each processing outcome into an output or dead-letter record.

Outcomes are queued by whichever thread finished the message and produced in that order on
the writer's own thread, so a full producer queue (which blocks ``produce``) never stalls
the event loop or the poll loop. A message is *settled* when its record has a successful
delivery report; only then may its offset be committed.

Failure rules: an output that cannot be produced or delivered goes to the dead-letter
topic instead. A dead-letter record that cannot be produced or delivered is fatal, because
the only safe place left for that message is "still uncommitted".
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from llm_kafka.engine.handler import Failure, Outcome, Success
from llm_kafka.engine.transport import ConsumedRecord, ProducerPort
from llm_kafka.errors import DeliveryError, KafkaError, LLMKafkaError, OutputTooLargeError
from llm_kafka.kafka.dead_letter import FailureInfo, dead_letter_headers
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.processor import RecordInfo

logger = logging.getLogger(__name__)

HEADER_OUTPUT_SOURCE = "llm_kafka.source"

# Called on the producer's thread when a message is settled: record, "processed" or
# "dead_lettered", and the processor name.
SettledCallback = Callable[[RecordInfo, str, str], None]
# Called when a message can be neither output nor dead-lettered; the worker must stop.
FatalCallback = Callable[[BaseException, RecordInfo, "str | None"], None]


@dataclass(frozen=True)
class _Item:
    record: ConsumedRecord
    outcome: Outcome


class OutputWriter:
    """Produces outcomes on a dedicated thread; ``write`` never blocks."""

    def __init__(
        self,
        producer: ProducerPort,
        *,
        output_topic: str,
        dead_letter_topic: str,
        on_settled: SettledCallback,
        on_fatal: FatalCallback,
        metrics: MetricsCollector | None = None,
    ) -> None:
        self._producer = producer
        self._output_topic = output_topic
        self._dead_letter_topic = dead_letter_topic
        self._on_settled = on_settled
        self._on_fatal = on_fatal
        self._metrics = metrics or MetricsCollector()
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="llm-kafka-output", daemon=True)
        self._thread.start()

    def write(self, record: ConsumedRecord, outcome: Outcome) -> None:
        """Queue ``outcome`` of ``record`` for producing; ignored once the writer is closed."""
        if self._closed:
            logger.debug("writer closed; outcome dropped, message stays uncommitted: %s", record.info.describe())
            return
        self._queue.put(_Item(record, outcome))

    def close(self, timeout: float) -> bool:
        """Produce what is queued, then stop the thread; return False if it did not finish in time."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                if isinstance(item.outcome, Failure):
                    self._dead_letter(item.record, item.outcome)
                else:
                    self._output(item.record, item.outcome)
            except Exception as error:  # the writer thread must outlive any single record
                self._on_fatal(error, item.record.info, item.outcome.message_id)

    def _output(self, record: ConsumedRecord, outcome: Success) -> None:
        info = record.info
        source = f"{info.topic}/{info.partition}/{info.offset}".encode()
        headers = [*info.headers, *outcome.headers, (HEADER_OUTPUT_SOURCE, source)]
        topic = outcome.topic or self._output_topic

        def delivered(error: DeliveryError | None) -> None:
            if error is None:
                self._on_settled(info, "processed", outcome.processor)
                return
            self._metrics.increment("producer.delivery_failures")
            logger.error("output delivery failed (%s); dead-lettering: %s", error, info.describe(outcome.message_id))
            self._queue.put(_Item(record, Failure(error, outcome.processor, outcome.message_id, "deliver", 1)))

        try:
            self._producer.produce(topic, outcome.value, key=info.key, headers=headers, on_delivery=delivered)
        except (OutputTooLargeError, DeliveryError) as error:
            logger.warning("output not produced (%s); dead-lettering: %s", error, info.describe(outcome.message_id))
            self._dead_letter(record, Failure(error, outcome.processor, outcome.message_id, "produce", 1))

    def _dead_letter(self, record: ConsumedRecord, failure: Failure) -> None:
        info = record.info
        details = FailureInfo(
            error_type=failure.error_type,
            error_message=str(failure.error),
            attempts=failure.attempts,
            processor=failure.processor,
            message_id=failure.message_id,
            raw_output=failure.raw_output,
        )

        def delivered(error: DeliveryError | None) -> None:
            if error is None:
                self._on_settled(info, "dead_lettered", failure.processor)
                return
            self._metrics.increment("producer.delivery_failures")
            self._on_fatal(
                KafkaError(f"dead-letter delivery failed, offset left uncommitted: {error}"), info, failure.message_id
            )

        headers = [*dead_letter_headers(info, details), *failure.headers]
        try:
            self._producer.produce(
                self._dead_letter_topic, record.value, key=info.key, headers=headers, on_delivery=delivered
            )
        except LLMKafkaError as error:
            self._on_fatal(error, info, failure.message_id)
