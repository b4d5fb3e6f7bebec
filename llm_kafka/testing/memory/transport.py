"""``InMemoryTransport``: builds in-memory consumers and producers for one pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_kafka.engine.transport import Transport
from llm_kafka.testing.memory.broker import InMemoryBroker
from llm_kafka.testing.memory.consumer import InMemoryConsumer, check_offset_reset
from llm_kafka.testing.memory.producer import InMemoryProducer


class InMemoryTransport:
    """A ``Transport`` whose consumers join ``group_id`` on ``broker``.

    Pass it to ``Pipeline(..., transport=...)`` to run a pipeline with no Kafka broker.
    """

    name = "memory"

    def __init__(self, broker: InMemoryBroker, group_id: str, *, auto_offset_reset: str = "earliest") -> None:
        self.broker = broker
        self.group_id = group_id
        self.auto_offset_reset = check_offset_reset(auto_offset_reset)

    def __repr__(self) -> str:
        return f"InMemoryTransport(group_id={self.group_id!r})"

    def consumer(self) -> InMemoryConsumer:
        """Return a new consumer of the group."""
        return InMemoryConsumer(self.broker, self.group_id, auto_offset_reset=self.auto_offset_reset)

    def producer(self) -> InMemoryProducer:
        """Return a new producer."""
        return InMemoryProducer(self.broker)


if TYPE_CHECKING:
    # mypy checks here that the in-memory clients match the engine's protocols.
    def _as_transport(transport: InMemoryTransport) -> Transport:
        return transport
