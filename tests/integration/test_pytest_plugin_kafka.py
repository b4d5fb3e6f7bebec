"""The plugin's Kafka fixtures in a user's test run, on the session's broker."""

from __future__ import annotations

import pytest

from llm_kafka.testing import KafkaTestBroker

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.kafka

USER_TESTS = """
def test_kafka_topic_is_fresh(kafka_broker, kafka_topic):
    topic = kafka_topic("orders", partitions=3)

    assert topic.startswith("orders-")
    assert kafka_broker.partitions(topic) == 3
    assert kafka_broker.records(topic) == []


def test_kafka_topic_names_differ(kafka_topic):
    assert kafka_topic() != kafka_topic()
"""


def test_kafka_fixtures_use_external_broker(
    pytester: pytest.Pytester, kafka_broker: KafkaTestBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker.bootstrap_servers)
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=2)
