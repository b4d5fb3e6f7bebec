"""Shared fixtures: the Kafka broker (started once per session) and fresh topics per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from llm_kafka.testing.kafka_broker import (
    BrokerHandle,
    broker_from_environment,
    create_topic,
)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[BrokerHandle]:
    """The broker named by KAFKA_BOOTSTRAP_SERVERS, or a local Apache Kafka started for the session."""
    broker = broker_from_environment()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def bootstrap_servers(kafka_broker: BrokerHandle) -> str:
    return kafka_broker.bootstrap_servers


@pytest.fixture
def new_topic(bootstrap_servers: str) -> Callable[..., str]:
    """Create a topic with a unique name and return the name."""

    def create(prefix: str = "topic", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        create_topic(bootstrap_servers, name, partitions=partitions)
        return name

    return create
