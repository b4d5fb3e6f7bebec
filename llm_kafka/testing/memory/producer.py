"""``InMemoryProducer``: a ``ProducerPort`` that writes to an ``InMemoryBroker``.

``produce`` only queues the record. A delivery thread that the producer owns writes each
queued record to the broker in order and then calls its ``on_delivery``, so callbacks never
run inside ``produce``, as with the Kafka producer. Injected delivery faults report a
``DeliveryError`` and write nothing.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

from llm_kafka.engine.transport import DeliveryCallback, Headers
from llm_kafka.errors import DeliveryError, OutputTooLargeError
from llm_kafka.testing.memory.broker import InMemoryBroker
from llm_kafka.testing.records import RecordHeaders, encode_headers

logger = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED = 100_000
"""librdkafka's default ``queue.buffering.max.messages``; ``produce`` blocks beyond it."""

# How long produce() waits for space in a full queue before it raises, as the Kafka
# producer worker does. A queue that stays full this long means deliveries have stopped.
_QUEUE_FULL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class _Pending:
    topic: str
    value: bytes | None
    key: bytes | None
    headers: RecordHeaders
    on_delivery: DeliveryCallback


class InMemoryProducer:
    """Queues records for an ``InMemoryBroker`` and reports each delivery exactly once."""

    def __init__(self, broker: InMemoryBroker, *, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        if max_queued < 1:
            raise ValueError(f"max_queued must be at least 1, got {max_queued}")
        self._broker = broker
        self._max_queued = max_queued
        self._queue: collections.deque[_Pending] = collections.deque()
        self._unreported = 0
        self._condition = threading.Condition()
        self._closing = False
        self._closed = False
        self._thread = threading.Thread(target=self._deliver_forever, name="llm-kafka-memory-delivery", daemon=True)
        self._thread.start()

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback,
    ) -> None:
        """Queue one record; ``on_delivery`` runs later on the delivery thread.

        Raises ``OutputTooLargeError`` at once for a record over the broker's
        ``max_message_bytes``, and ``DeliveryError`` after a closed producer or a queue
        that stays full for 60 seconds.
        """
        encoded_headers = encode_headers(headers)
        size = len(value or b"") + len(key or b"") + sum(len(name) + len(data or b"") for name, data in encoded_headers)
        if size > self._broker.max_message_bytes:
            raise OutputTooLargeError(
                f"record of {size} bytes for {topic} is larger than max_message_bytes={self._broker.max_message_bytes}"
            )

        pending = _Pending(topic, value, key, encoded_headers, on_delivery)
        deadline = time.monotonic() + _QUEUE_FULL_TIMEOUT_S
        with self._condition:
            # A delivery callback may produce, for example a dead letter for a failed output.
            # It runs on the delivery thread, so waiting there for space would never end.
            on_delivery_thread = threading.current_thread() is self._thread
            while len(self._queue) >= self._max_queued and not on_delivery_thread and not self._closing:
                if not self._condition.wait(deadline - time.monotonic()):
                    raise DeliveryError(
                        f"in-memory producer queue stayed full ({self._max_queued} records) for "
                        f"{_QUEUE_FULL_TIMEOUT_S:.0f}s",
                        retryable=True,
                    )
            if self._closing:
                raise DeliveryError(f"producing to {topic} failed: the producer is closed")
            self._queue.append(pending)
            self._unreported += 1
            self._condition.notify_all()

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds until every queued record is reported; return how many are not."""
        deadline = time.monotonic() + timeout
        with self._condition:
            if threading.current_thread() is self._thread:
                # Called from a delivery callback: the records after it cannot be delivered
                # until the callback returns, so waiting would only run out the timeout.
                return self._unreported
            while self._unreported:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            return self._unreported

    def topics(self, timeout: float) -> set[str]:
        """Return the names of the broker's topics."""
        return self._broker.topics()

    def close(self, timeout: float) -> int:
        """Flush for up to ``timeout`` seconds, then stop; return the records not delivered.

        Records still queued then are reported to their ``on_delivery`` as a retryable
        ``DeliveryError`` on the calling thread and never written.
        """
        if self._closed:
            return 0
        remaining = self.flush(timeout)
        with self._condition:
            self._closing = True
            dropped = list(self._queue)
            self._queue.clear()
            self._condition.notify_all()
        self._thread.join(timeout=5.0)
        for pending in dropped:
            self._report(
                pending, DeliveryError(f"delivery to {pending.topic} failed: the producer closed first", retryable=True)
            )
        self._closed = True
        if remaining:
            logger.error("in-memory producer closed with %d records not delivered", remaining)
        return remaining

    def _deliver_forever(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closing:
                    self._condition.wait()
                if not self._queue:
                    return
                pending = self._queue.popleft()
                self._condition.notify_all()
            self._report(pending, self._write(pending))

    def _write(self, pending: _Pending) -> DeliveryError | None:
        error = self._broker._delivery_fault(pending.topic)
        if error is not None:
            return error
        try:
            self._broker._append(pending.topic, pending.value, pending.key, pending.headers)
        except ValueError as missing:
            # The real producer reports UNKNOWN_TOPIC_OR_PART, which retrying does not fix.
            return DeliveryError(f"delivery to {pending.topic} failed: {missing}", retryable=False)
        return None

    def _report(self, pending: _Pending, error: DeliveryError | None) -> None:
        try:
            pending.on_delivery(error)
        except Exception:
            logger.exception("delivery callback for a record to %s raised; continuing to deliver", pending.topic)
        finally:
            with self._condition:
                self._unreported -= 1
                self._condition.notify_all()
