"""An in-memory Kafka for tests: ``InMemoryBroker`` and the ``InMemoryTransport`` seam.

A pipeline built with ``transport=broker.transport(group_id)`` runs on the same engine as
with Kafka, with consumer groups, commits, rebalances and delivery reports kept in memory.
"""

from llm_kafka.testing.memory.broker import InMemoryBroker
from llm_kafka.testing.memory.consumer import InMemoryConsumer
from llm_kafka.testing.memory.producer import InMemoryProducer
from llm_kafka.testing.memory.transport import InMemoryTransport

__all__ = ["InMemoryBroker", "InMemoryConsumer", "InMemoryProducer", "InMemoryTransport"]
