"""``KafkaProducerWorker``: an idempotent producer whose delivery reports are always served.

A background thread calls ``poll`` so delivery callbacks run even while the consumer loop
is busy. A full local queue (``BufferError``) is handled by serving delivery reports and
retrying the same record; nothing is dropped. Callbacks run on that background thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import KafkaError as ConfluentKafkaError
from confluent_kafka import KafkaException, Message, Producer

from llm_kafka.config import KafkaSettings
from llm_kafka.errors import DeliveryError, OutputTooLargeError
from llm_kafka.kafka.consumer import LIBRDKAFKA_LOGGER

logger = logging.getLogger(__name__)

DeliveryCallback = Callable[[DeliveryError | None, Message | None], None]
Headers = Sequence[tuple[str, bytes | str | None]]

# How long ``produce`` keeps retrying a record while the local queue is full. A queue that
# stays full this long means the broker is unreachable; raising lets the caller decide.
_QUEUE_FULL_TIMEOUT_S = 60.0

_NON_RETRYABLE_CODES = {
    ConfluentKafkaError.MSG_SIZE_TOO_LARGE,
    ConfluentKafkaError._MSG_TIMED_OUT,
    ConfluentKafkaError.TOPIC_AUTHORIZATION_FAILED,
    ConfluentKafkaError.UNKNOWN_TOPIC_OR_PART,
}


class KafkaProducerWorker:
    """Produces output and dead-letter records and reports each delivery."""

    def __init__(
        self, settings: KafkaSettings, *, poll_interval_s: float = 0.05
    ) -> None:
        config = settings.producer_config()
        config.setdefault("error_cb", self._log_client_error)
        config.setdefault("logger", LIBRDKAFKA_LOGGER)
        self._producer = Producer(config)
        self._poll_interval_s = poll_interval_s
        self._stopping = threading.Event()
        self._poller = threading.Thread(
            target=self._serve_delivery_reports,
            name="llm-kafka-producer-poll",
            daemon=True,
        )
        self._poller.start()

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback,
    ) -> None:
        """Queue one record; ``on_delivery`` is called once with None or a ``DeliveryError``.

        Raises ``OutputTooLargeError`` at once if the record is larger than the producer
        accepts, and ``DeliveryError`` if the local queue stays full for too long.
        """

        def report(error: ConfluentKafkaError | None, message: Message | None) -> None:
            if error is None:
                on_delivery(None, message)
                return
            retryable = error.retriable() and error.code() not in _NON_RETRYABLE_CODES
            on_delivery(
                DeliveryError(
                    f"delivery to {topic} failed: {error}", retryable=retryable
                ),
                message,
            )

        deadline = time.monotonic() + _QUEUE_FULL_TIMEOUT_S
        while True:
            try:
                self._producer.produce(
                    topic,
                    value=value,
                    key=key,
                    headers=list(headers or []),
                    on_delivery=report,
                )
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise DeliveryError(
                        f"local producer queue stayed full for {_QUEUE_FULL_TIMEOUT_S:.0f}s; is the broker reachable?",
                        retryable=True,
                    ) from None
                self._producer.poll(0.1)
            except KafkaException as error:
                kafka_error = error.args[0] if error.args else None
                if (
                    isinstance(kafka_error, ConfluentKafkaError)
                    and kafka_error.code() == ConfluentKafkaError.MSG_SIZE_TOO_LARGE
                ):
                    size = len(value or b"")
                    raise OutputTooLargeError(
                        f"record of {size} bytes for {topic} is larger than the producer accepts"
                    ) from error
                raise DeliveryError(f"producing to {topic} failed: {error}") from error

    def flush(self, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for queued records; return how many are still queued."""
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> int:
        """Flush, stop serving delivery reports, close the client; return the records not delivered."""
        remaining = self.flush(timeout)
        if remaining:
            # close() flushes without a time limit, so drop what the broker did not take. The
            # inputs of those records stay uncommitted and are consumed again after a restart.
            logger.error(
                "closing the producer with %d records not delivered; their inputs stay uncommitted",
                remaining,
            )
            self._producer.purge()
            self._producer.flush(1.0)
        self._stopping.set()
        self._poller.join(timeout=5.0)
        self._producer.close()
        return remaining

    def list_topics(self, timeout: float = 10.0) -> Any:
        """Return the cluster metadata, for checks that the output topics exist."""
        return self._producer.list_topics(timeout=timeout)

    def _serve_delivery_reports(self) -> None:
        while not self._stopping.is_set():
            try:
                self._producer.poll(self._poll_interval_s)
            except Exception:
                # A delivery callback raised; the callback logs its own context, so keep serving.
                logger.exception(
                    "delivery callback raised; continuing to serve delivery reports"
                )

    @staticmethod
    def _log_client_error(error: ConfluentKafkaError) -> None:
        logger.warning("producer client error: %s", error)
