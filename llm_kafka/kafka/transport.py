"""``KafkaTransport``: the pipeline's consumer and producer on a real Kafka cluster."""

from __future__ import annotations

from llm_kafka.config import KafkaSettings
from llm_kafka.kafka.consumer import KafkaConsumerWorker
from llm_kafka.kafka.producer import KafkaProducerWorker


class KafkaTransport:
    """Builds confluent-kafka workers from ``KafkaSettings``; the default transport."""

    name = "kafka"

    def __init__(self, settings: KafkaSettings) -> None:
        # Fail at construction, not at the first message, on unsafe settings.
        settings.consumer_config()
        settings.producer_config()
        self.settings = settings

    def consumer(self) -> KafkaConsumerWorker:
        """Return a new consumer for the settings' group."""
        return KafkaConsumerWorker(self.settings)

    def producer(self) -> KafkaProducerWorker:
        """Return a new idempotent producer."""
        return KafkaProducerWorker(self.settings)
