"""Consumer client settings: prefetch defaults and their overrides."""

from llm_kafka.config import KafkaSettings
from llm_kafka.kafka.consumer import KafkaConsumerWorker


def consumer_config(**consumer: object) -> dict[str, object]:
    # Nothing listens on 127.0.0.1:9. The test only reads the configuration the worker built.
    worker = KafkaConsumerWorker(KafkaSettings(bootstrap_servers="127.0.0.1:9", group_id="g", consumer=consumer))
    try:
        return dict(worker._config)
    finally:
        worker.close()


def test_prefetch_defaults_bound_the_client_queue() -> None:
    config = consumer_config()

    assert config["queued.max.messages.kbytes"] == 8192
    assert config["queued.min.messages"] == 1000


def test_fetch_queue_backoff_is_short_by_default() -> None:
    assert consumer_config()["fetch.queue.backoff.ms"] == 10


def test_fetch_queue_backoff_can_be_overridden() -> None:
    assert consumer_config(**{"fetch.queue.backoff.ms": 500})["fetch.queue.backoff.ms"] == 500
