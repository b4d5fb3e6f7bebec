"""Run a pipeline until every input record is settled, on either test broker.

An input is settled when its output or dead-letter record is written and its offset is
committed. ``run_until_settled`` reads only offsets through ``BrokerView``, which
``InMemoryBroker`` and ``KafkaTestBroker`` both implement, so one test runs on either.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from llm_kafka.kafka.transport import KafkaTransport
from llm_kafka.observability.health_transport import HealthReportingTransport
from llm_kafka.pipeline import Pipeline
from llm_kafka.testing.memory.transport import InMemoryTransport
from llm_kafka.testing.records import StoredRecord

logger = logging.getLogger(__name__)

# How often the offsets are checked. Each check of KafkaTestBroker is a few admin
# requests to the broker, so checking much more often only adds load.
_CHECK_INTERVAL_S = 0.05

# How long stop() may take after the inputs are settled: the pipeline then has nothing in
# flight, so only a hung shutdown takes longer.
_STOP_TIMEOUT_S = 30.0


class BrokerView(Protocol):
    """The offsets and records of a broker that ``run_until_settled`` reads."""

    def end_offsets(self, topic: str) -> dict[int, int]:
        """Return the next offset to be written per partition of ``topic``."""

    def committed(self, group_id: str, topic: str) -> dict[int, int]:
        """Return the group's committed offset per partition; partitions with none are absent."""

    def records(self, topic: str) -> list[StoredRecord]:
        """Return every record of ``topic``."""


@dataclass(frozen=True)
class SettledRun:
    """The records a settled run left behind, and the committed input offsets."""

    outputs: list[StoredRecord]
    dead_letters: list[StoredRecord]
    committed: dict[str, dict[int, int]]

    def output_values(self) -> list[object]:
        """Return the JSON-decoded values of the output records."""
        return [record.json() for record in self.outputs]


@dataclass(frozen=True)
class _Progress:
    inputs: int
    written: int
    behind: list[str]

    @property
    def settled(self) -> bool:
        return not self.behind and self.written >= self.inputs

    def describe(self) -> str:
        lag = ", ".join(self.behind) or "none"
        return (
            f"{self.inputs} inputs, {self.written} outputs and dead letters, partitions not committed to the end: {lag}"
        )


def pipeline_group_id(pipeline: Pipeline) -> str:
    """Return the consumer group id ``pipeline`` commits under."""
    transport = pipeline.transport
    while isinstance(transport, HealthReportingTransport):
        transport = transport.inner
    if isinstance(transport, InMemoryTransport):
        return transport.group_id
    if isinstance(transport, KafkaTransport):
        return transport.settings.group_id
    raise TypeError(f"cannot find the consumer group of a pipeline on transport {transport!r}")


def _end_offsets(broker: BrokerView, topic: str) -> dict[int, int]:
    # A missing topic counts as empty: the pipeline itself fails on it at start-up, and
    # run_until_settled then raises that error.
    try:
        return broker.end_offsets(topic)
    except ValueError:
        return {}


def consumer_lag(broker: BrokerView, group_id: str, topic: str) -> dict[int, int]:
    """Return how many records of each partition of ``topic`` lie past the group's committed offset.

    A partition without a commit counts from offset 0, so its lag is its end offset.
    """
    committed = broker.committed(group_id, topic)
    return {partition: end - committed.get(partition, 0) for partition, end in broker.end_offsets(topic).items()}


def check_progress(broker: BrokerView, pipeline: Pipeline) -> _Progress:
    """Compare the committed input offsets and the written records with the inputs."""
    settings = pipeline.settings
    group_id = pipeline_group_id(pipeline)

    inputs = 0
    behind = []
    for topic in settings.input_topics:
        ends = _end_offsets(broker, topic)
        inputs += sum(ends.values())
        lag = consumer_lag(broker, group_id, topic) if ends else {}
        behind += [f"{topic}[{partition}] {count} behind" for partition, count in sorted(lag.items()) if count > 0]

    written_topics = {settings.output_topic, settings.dead_letter_topic}
    written = sum(sum(_end_offsets(broker, topic).values()) for topic in written_topics)
    return _Progress(inputs, written, behind)


def run_until_settled(broker: BrokerView, pipeline: Pipeline, timeout_s: float = 10.0) -> SettledRun:
    """Start ``pipeline``, wait until every input is settled, stop it and return the records.

    Settled means every input partition's committed offset has reached its end offset, and
    the output and dead-letter topics hold at least as many records as the inputs (more
    when records were processed twice). Raises ``TimeoutError`` with the progress when that
    takes longer than ``timeout_s`` seconds, and the pipeline's own error if it stopped with one.
    """
    deadline = time.monotonic() + timeout_s
    pipeline.start()
    try:
        progress = check_progress(broker, pipeline)
        while not progress.settled and pipeline.error is None and time.monotonic() < deadline:
            time.sleep(_CHECK_INTERVAL_S)
            progress = check_progress(broker, pipeline)
    finally:
        pipeline.stop(timeout=_STOP_TIMEOUT_S)

    if pipeline.error is not None:
        raise pipeline.error
    if not progress.settled:
        raise TimeoutError(f"pipeline did not settle within {timeout_s}s: {progress.describe()}")

    settings = pipeline.settings
    group_id = pipeline_group_id(pipeline)
    return SettledRun(
        outputs=broker.records(settings.output_topic),
        dead_letters=broker.records(settings.dead_letter_topic),
        committed={topic: broker.committed(group_id, topic) for topic in settings.input_topics},
    )
