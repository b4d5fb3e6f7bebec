"""pytest fixtures for testing pipelines, loaded through the ``pytest11`` entry point.

Installing llm-kafka makes these fixtures available in every test suite:

- ``memory_broker``: a fresh ``InMemoryBroker`` per test, for tests without Kafka.
- ``kafka_broker``: a ``KafkaTestBroker`` for the session, on the broker that
  ``KAFKA_BOOTSTRAP_SERVERS`` names or on a local Apache Kafka started for the session.
  It has the same test API as ``memory_broker``, so a test can take either.
- ``kafka_topic``: a factory ``kafka_topic(prefix="topic", partitions=1)`` that creates a
  topic with a unique name on ``kafka_broker`` and returns the name.
- ``llm_server``: a ``LocalLLMServer`` on 127.0.0.1 for one test.
- ``fake_clock`` and ``fake_llm``: a ``FakeClock`` and a ``FakeLLM`` that waits on it.

Disable the plugin with ``-p no:llm_kafka``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

# The fixtures import llm_kafka only when a test uses them, so the plugin adds nothing to
# the start-up of test suites that never do.
if TYPE_CHECKING:
    from llm_kafka.testing.clock import FakeClock
    from llm_kafka.testing.fake_llm import FakeLLM
    from llm_kafka.testing.kafka_test_broker import KafkaTestBroker
    from llm_kafka.testing.llm_server import LocalLLMServer
    from llm_kafka.testing.memory import InMemoryBroker

TopicFactory = Callable[..., str]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kafka: needs a real Kafka broker (started by the kafka_broker fixture unless KAFKA_BOOTSTRAP_SERVERS is set)",
    )


@pytest.fixture
def memory_broker() -> InMemoryBroker:
    """Return a fresh in-memory broker: topics, consumer groups and faults for one test."""
    from llm_kafka.testing.memory import InMemoryBroker

    return InMemoryBroker()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaTestBroker]:
    """Return the broker named by KAFKA_BOOTSTRAP_SERVERS, or a local Apache Kafka started for the session."""
    from llm_kafka.testing.kafka_broker import broker_from_environment
    from llm_kafka.testing.kafka_test_broker import KafkaTestBroker

    broker = KafkaTestBroker(broker_from_environment())
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic(kafka_broker: KafkaTestBroker) -> TopicFactory:
    """A factory that creates a topic with a unique name on ``kafka_broker`` and returns the name."""

    def create(prefix: str = "topic", partitions: int = 1) -> str:
        return kafka_broker.new_topic(prefix, partitions)

    return create


@pytest.fixture
def llm_server() -> Iterator[LocalLLMServer]:
    """Return a local OpenAI- and Anthropic-compatible LLM server with no faults, for one test."""
    from llm_kafka.testing.llm_server import LocalLLMServer

    with LocalLLMServer() as server:
        yield server


@pytest.fixture
def fake_clock() -> FakeClock:
    """Return a clock that moves only when slept on or advanced, starting at 0."""
    from llm_kafka.testing.clock import FakeClock

    return FakeClock()


@pytest.fixture
def fake_llm(fake_clock: FakeClock) -> FakeLLM:
    """A ``FakeLLM`` waiting on ``fake_clock``; it gives the default answers until ``set_responses``."""
    from llm_kafka.testing.fake_llm import FakeLLM

    return FakeLLM(clock=fake_clock)
