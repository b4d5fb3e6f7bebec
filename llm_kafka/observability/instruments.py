"""The built-in metric instruments: one table of names, kinds, units and descriptions.

``MetricsCollector`` looks names up here, so the engine and the docs use the same names.
Each name is recorded as the OpenTelemetry instrument ``llm_kafka.<name>``. Attributes stay
low-cardinality: topic, partition and processor names, never message ids or keys. Units
follow UCUM as the OpenTelemetry conventions ask: ``s`` for seconds and ``{message}``-style
annotations for counts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class InstrumentKind(str, enum.Enum):
    """The recording style of an instrument, which decides the ``MetricsCollector`` method for it."""

    COUNTER = "counter"
    """A monotonic total, recorded with ``increment``."""

    HISTOGRAM = "histogram"
    """A distribution of durations, recorded with ``record_duration`` or a timer."""

    GAUGE = "gauge"
    """A current level, recorded with ``set_gauge``."""


@dataclass(frozen=True)
class InstrumentSpec:
    """One built-in instrument: its kind, UCUM unit, description and expected attributes."""

    name: str
    kind: InstrumentKind
    unit: str
    description: str
    attributes: tuple[str, ...] = ()

    @property
    def otel_name(self) -> str:
        """The OpenTelemetry instrument name, ``llm_kafka.`` followed by ``name``."""
        return f"{METRIC_PREFIX}{self.name}"


METRIC_PREFIX = "llm_kafka."

MESSAGES_CONSUMED = "messages.consumed"
MESSAGES_PROCESSED = "messages.processed"
MESSAGES_DEAD_LETTERED = "messages.dead_lettered"
MESSAGES_RETRIED = "messages.retried"
MESSAGES_SKIPPED = "messages.skipped"
PROCESSING_DURATION = "processing.duration"
MESSAGES_IN_FLIGHT = "messages.in_flight"
PARTITIONS_PAUSED = "partitions.paused"
CONSUMER_LAG = "consumer.lag"
COMMIT_LATENCY = "commit.latency"
COMMITS_FAILED = "commits.failed"
PRODUCER_DELIVERY_FAILURES = "producer.delivery_failures"
REBALANCES_ASSIGNED = "rebalances.assigned"
REBALANCES_REVOKED = "rebalances.revoked"
REBALANCES_LOST = "rebalances.lost"

_BY_TOPIC_AND_PROCESSOR = ("topic", "processor")

BUILTIN_INSTRUMENTS: dict[str, InstrumentSpec] = {
    spec.name: spec
    for spec in (
        InstrumentSpec(
            MESSAGES_CONSUMED,
            InstrumentKind.COUNTER,
            "{message}",
            "Records taken from the input topics.",
            ("topic",),
        ),
        InstrumentSpec(
            MESSAGES_PROCESSED,
            InstrumentKind.COUNTER,
            "{message}",
            "Records whose output record the broker acknowledged.",
            _BY_TOPIC_AND_PROCESSOR,
        ),
        InstrumentSpec(
            MESSAGES_DEAD_LETTERED,
            InstrumentKind.COUNTER,
            "{message}",
            "Records whose dead-letter record the broker acknowledged.",
            _BY_TOPIC_AND_PROCESSOR,
        ),
        InstrumentSpec(
            MESSAGES_RETRIED,
            InstrumentKind.COUNTER,
            "{message}",
            "Records processed again, after a replay of uncommitted work or a retry.",
            _BY_TOPIC_AND_PROCESSOR,
        ),
        InstrumentSpec(
            MESSAGES_SKIPPED,
            InstrumentKind.COUNTER,
            "{message}",
            "Records not processed again because the commit metadata shows an earlier owner finished them.",
        ),
        InstrumentSpec(
            PROCESSING_DURATION,
            InstrumentKind.HISTOGRAM,
            "s",
            "Seconds from the start of parsing to the outcome of one record, all hooks included.",
            _BY_TOPIC_AND_PROCESSOR,
        ),
        InstrumentSpec(
            MESSAGES_IN_FLIGHT,
            InstrumentKind.GAUGE,
            "{message}",
            "Records being processed now, across all partitions.",
        ),
        InstrumentSpec(
            PARTITIONS_PAUSED,
            InstrumentKind.GAUGE,
            "{partition}",
            "Assigned partitions paused because the in-memory buffer is full.",
        ),
        InstrumentSpec(
            CONSUMER_LAG,
            InstrumentKind.GAUGE,
            "{message}",
            "Highest offset seen minus the committed offset, per partition.",
            ("topic", "partition"),
        ),
        InstrumentSpec(
            COMMIT_LATENCY,
            InstrumentKind.HISTOGRAM,
            "s",
            "Seconds one synchronous offset commit took.",
        ),
        InstrumentSpec(
            COMMITS_FAILED,
            InstrumentKind.COUNTER,
            "{commit}",
            "Offset commits the broker rejected; they are retried at the next commit.",
        ),
        InstrumentSpec(
            PRODUCER_DELIVERY_FAILURES,
            InstrumentKind.COUNTER,
            "{record}",
            "Output or dead-letter records the broker did not acknowledge.",
        ),
        InstrumentSpec(
            REBALANCES_ASSIGNED,
            InstrumentKind.COUNTER,
            "{partition}",
            "Partitions assigned to this consumer by group rebalances.",
        ),
        InstrumentSpec(
            REBALANCES_REVOKED,
            InstrumentKind.COUNTER,
            "{partition}",
            "Partitions revoked from this consumer by group rebalances.",
        ),
        InstrumentSpec(
            REBALANCES_LOST,
            InstrumentKind.COUNTER,
            "{partition}",
            "Partitions this consumer lost without a revoke, such as after a session timeout.",
        ),
    )
}
"""The built-in instruments by name, as passed to ``MetricsCollector`` methods."""
