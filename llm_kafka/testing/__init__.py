"""Tools for testing pipelines: in-memory and real brokers, a fake LLM, a fake clock.

- ``InMemoryBroker`` and ``InMemoryTransport`` run a ``Pipeline`` with no Kafka broker;
  ``KafkaTestBroker`` offers the same test API on a real broker.
- ``FakeLLM`` scripts the ``fake`` provider's answers and faults; ``FakeClock`` makes waits free.
- ``LocalKafkaBroker`` starts Apache Kafka from the Maven Central jars, and
  ``LocalLLMServer`` serves OpenAI- and Anthropic-compatible answers. Both bind 127.0.0.1 only.
- The pytest plugin (``llm_kafka.testing.pytest_plugin``) provides fixtures for all of these.
"""

from llm_kafka.testing.clock import FakeClock, SystemClock
from llm_kafka.testing.fake_llm import (
    FakeLLM,
    FakeProvider,
    Malformed,
    Overloaded,
    RateLimited,
    Reply,
    ScriptExhaustedError,
    ServerError,
    TimedOut,
    default_answer,
    prompt_of,
    register_fake_provider,
)
from llm_kafka.testing.kafka_broker import LocalKafkaBroker, broker_from_environment
from llm_kafka.testing.kafka_test_broker import KafkaTestBroker
from llm_kafka.testing.llm_server import FaultSettings, LocalLLMServer
from llm_kafka.testing.memory import (
    InMemoryBroker,
    InMemoryConsumer,
    InMemoryProducer,
    InMemoryTransport,
)
from llm_kafka.testing.records import StoredRecord
from llm_kafka.testing.settle import SettledRun, run_until_settled

__all__ = [
    "FakeClock",
    "FakeLLM",
    "FakeProvider",
    "FaultSettings",
    "InMemoryBroker",
    "InMemoryConsumer",
    "InMemoryProducer",
    "InMemoryTransport",
    "KafkaTestBroker",
    "LocalKafkaBroker",
    "LocalLLMServer",
    "Malformed",
    "Overloaded",
    "RateLimited",
    "Reply",
    "ScriptExhaustedError",
    "ServerError",
    "SettledRun",
    "StoredRecord",
    "SystemClock",
    "TimedOut",
    "broker_from_environment",
    "default_answer",
    "prompt_of",
    "register_fake_provider",
    "run_until_settled",
]
