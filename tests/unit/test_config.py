"""Settings: unsafe Kafka properties are rejected with a clear message."""

import pytest

from llm_kafka.config import KafkaSettings, PipelineSettings
from llm_kafka.errors import ConfigurationError


def settings(**kwargs: object) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers="127.0.0.1:9092", group_id="g", **kwargs)  # type: ignore[arg-type]


def test_consumer_config_forces_manual_commits() -> None:
    config = settings().consumer_config()

    assert config["enable.auto.commit"] is False
    assert config["enable.auto.offset.store"] is False


@pytest.mark.parametrize("name", ["enable.auto.commit", "enable.auto.offset.store"])
@pytest.mark.parametrize("value", [True, "true", "1"])
def test_auto_commit_is_rejected(name: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=name):
        settings(consumer={name: value}).consumer_config()


def test_auto_commit_false_is_accepted() -> None:
    config = settings(consumer={"enable.auto.commit": "false"}).consumer_config()

    assert config["enable.auto.commit"] is False


def test_producer_is_idempotent_with_acks_all() -> None:
    config = settings().producer_config()

    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"


def test_producer_acks_one_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="acks"):
        settings(producer={"acks": "1"}).producer_config()


def test_extra_librdkafka_properties_pass_through() -> None:
    config = settings(consumer={"max.poll.interval.ms": 60000}).consumer_config()

    assert config["max.poll.interval.ms"] == 60000


def pipeline_settings(**kwargs: object) -> PipelineSettings:
    return PipelineSettings(input_topics=["in"], output_topic="out", dead_letter_topic="dlq", **kwargs)  # type: ignore[arg-type]


def test_buffer_limit_defaults_to_four_times_in_flight() -> None:
    assert pipeline_settings(max_in_flight=64).buffer_limit == 256
    assert pipeline_settings(max_in_flight=1).buffer_limit == 4


def test_buffer_limit_uses_max_buffered_when_set() -> None:
    assert pipeline_settings(max_in_flight=64, max_buffered=10).buffer_limit == 10
