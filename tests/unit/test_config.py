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


def test_repr_hides_sasl_and_ssl_passwords() -> None:
    kafka = settings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="hunter2-sasl",
        ssl_certificate_location="/etc/cert.pem",
        ssl_key_location="/etc/key.pem",
        ssl_key_password="hunter2-key",
        consumer={"ssl.keystore.password": "hunter2-store"},
        properties={"sasl.oauthbearer.client.secret": "hunter2-oauth"},
    )

    for text in (repr(kafka), str(kafka)):
        assert "hunter2" not in text
    assert "svc" in repr(kafka)


def test_security_fields_become_librdkafka_properties() -> None:
    kafka = settings(
        security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="svc", sasl_password="pw-123456"
    )

    for config in (kafka.consumer_config(), kafka.producer_config()):
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.mechanism"] == "PLAIN"
        assert config["sasl.username"] == "svc"
        assert config["sasl.password"] == "pw-123456"


def test_dotted_security_properties_pass_through() -> None:
    kafka = settings(
        properties={
            "security.protocol": "SASL_SSL",
            "sasl.mechanisms": "PLAIN",
            "sasl.username": "u",
            "sasl.password": "p",
        }
    )

    assert kafka.consumer_config()["sasl.username"] == "u"
    assert kafka.producer_config()["security.protocol"] == "SASL_SSL"


def test_sasl_without_sasl_protocol_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="security_protocol to SASL_SSL"):
        settings(sasl_username="svc", sasl_password="pw").consumer_config()


def test_sasl_username_without_password_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match=r"sasl\.password is missing"):
        settings(security_protocol="SASL_SSL", sasl_username="svc").consumer_config()


def test_conflicting_security_setting_is_rejected() -> None:
    kafka = settings(security_protocol="SSL", properties={"security.protocol": "SASL_SSL"})

    with pytest.raises(ConfigurationError, match=r"security\.protocol is set twice"):
        kafka.producer_config()


def test_acks_in_shared_properties_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="acks"):
        settings(properties={"acks": 1}).producer_config()


def test_secret_values_lists_every_credential() -> None:
    kafka = settings(
        security_protocol="SASL_SSL",
        sasl_username="u",
        sasl_password="pw-sasl",
        producer={"ssl.key.password": "pw-key"},
    )

    assert sorted(kafka.secret_values()) == ["pw-key", "pw-sasl"]


def pipeline_settings(**kwargs: object) -> PipelineSettings:
    return PipelineSettings(input_topics=["in"], output_topic="out", dead_letter_topic="dlq", **kwargs)  # type: ignore[arg-type]


def test_buffer_limit_defaults_to_four_times_in_flight() -> None:
    assert pipeline_settings(max_in_flight=64).buffer_limit == 256
    assert pipeline_settings(max_in_flight=1).buffer_limit == 4


def test_buffer_limit_uses_max_buffered_when_set() -> None:
    assert pipeline_settings(max_in_flight=64, max_buffered=10).buffer_limit == 10


def test_auto_commit_in_shared_properties_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match=r"properties setting enable\.auto\.commit"):
        settings(properties={"enable.auto.commit": "true"}).consumer_config()
