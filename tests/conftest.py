"""Shared fixtures. The Kafka broker, topics, LLM server and in-memory broker come from the
llm-kafka pytest plugin (``llm_kafka.testing.pytest_plugin``), which the package registers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llm_kafka.testing.kafka_test_broker import KafkaTestBroker


@pytest.fixture
def bootstrap_servers(kafka_broker: KafkaTestBroker) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture
def new_topic(kafka_topic: Callable[..., str]) -> Callable[..., str]:
    """Create a topic with a unique name and return the name (the plugin's ``kafka_topic``)."""
    return kafka_topic
