"""Settings for the Kafka clients and the pipeline, checked at start-up.

Settings that would break at-least-once delivery are rejected with a message that names
the setting and the fix, instead of being silently overridden.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llm_kafka.errors import ConfigurationError

# librdkafka properties that llm-kafka owns on the consumer. Auto-commit and the automatic
# offset store would commit offsets of messages whose output was never delivered.
_CONSUMER_REQUIRED = {"enable.auto.commit": False, "enable.auto.offset.store": False}

# The producer is idempotent with acks=all so a retried send neither loses nor duplicates
# a record within one producer session.
_PRODUCER_DEFAULTS: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}

_FALSE_STRINGS = {"false", "0", "no", "off"}

# Default max_buffered as a multiple of max_in_flight. librdkafka 2.16.0 drops a paused
# partition's prefetched records, and after a resume its fetcher may sleep up to about 1 s
# before it fetches again (seen in its debug log). The buffer must cover that wait, or the
# in-flight slots run dry at every resume. With 0.2 s LLM calls, a buffer equal to
# max_in_flight lasted 0.2 s; docs/benchmarks.md shows W2 throughput with both defaults.
DEFAULT_BUFFER_FACTOR = 4


def _is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_STRINGS
    return bool(value)


class KafkaSettings(BaseModel):
    """Connection and client settings shared by the consumer and producer."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str = Field(description="Comma-separated host:port list of brokers.")
    group_id: str = Field(description="Consumer group id of the pipeline.")
    auto_offset_reset: str = Field(
        default="earliest",
        description="Where a group with no committed offset starts: earliest or latest.",
    )
    client_id: str = Field(default="llm-kafka", description="Client id sent to the broker.")
    consumer: dict[str, Any] = Field(
        default_factory=dict, description="Extra librdkafka consumer properties, passed through."
    )
    producer: dict[str, Any] = Field(
        default_factory=dict, description="Extra librdkafka producer properties, passed through."
    )

    @field_validator("auto_offset_reset")
    @classmethod
    def _check_offset_reset(cls, value: str) -> str:
        if value not in {"earliest", "latest", "error"}:
            raise ValueError(f"auto_offset_reset must be earliest, latest or error, got {value!r}")
        return value

    def consumer_config(self) -> dict[str, Any]:
        """Return the librdkafka consumer configuration; raise ``ConfigurationError`` if unsafe."""
        for name in _CONSUMER_REQUIRED:
            if name in self.consumer and _is_true(self.consumer[name]):
                raise ConfigurationError(
                    f"consumer setting {name}={self.consumer[name]!r} is not allowed: llm-kafka "
                    f"commits an offset only after the message's output is delivered. "
                    f"Remove {name} from the consumer settings."
                )
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": self.group_id,
            "client.id": self.client_id,
            "auto.offset.reset": self.auto_offset_reset,
            **self.consumer,
            **_CONSUMER_REQUIRED,
        }

    def producer_config(self) -> dict[str, Any]:
        """Return the librdkafka producer configuration; raise ``ConfigurationError`` if unsafe."""
        acks = str(self.producer.get("acks", "all")).lower()
        idempotent = _is_true(self.producer.get("enable.idempotence", True))
        if acks not in {"all", "-1"}:
            raise ConfigurationError(
                f"producer setting acks={self.producer['acks']!r} is not allowed: a record "
                f"acknowledged by one replica can be lost, and its input would still be "
                f"committed. Use acks=all or remove the setting."
            )
        if not idempotent:
            raise ConfigurationError(
                "producer setting enable.idempotence=false is not allowed: retried sends could "
                "reorder or duplicate records. Remove the setting."
            )
        return {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            **_PRODUCER_DEFAULTS,
            **self.producer,
        }


class PipelineSettings(BaseModel):
    """Topics and timing of a pipeline."""

    model_config = ConfigDict(extra="forbid")

    input_topics: list[str] = Field(min_length=1, description="Topics the pipeline consumes.")
    output_topic: str = Field(description="Topic results are produced to.")
    dead_letter_topic: str = Field(description="Topic failed messages are produced to.")
    commit_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between offset commits. A crash replays at most this much finished work.",
    )
    poll_timeout_s: float = Field(
        default=0.1, gt=0, description="Seconds one consumer poll waits for a record."
    )
    message_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description=(
            "Seconds one message may take through all hooks, retries included, before it is "
            "dead-lettered as timed out. Keep it below the consumer's max.poll.interval.ms."
        ),
    )
    shutdown_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Seconds stop() waits for in-flight messages and pending deliveries. Work still "
            "running then is abandoned uncommitted and processed again after a restart."
        ),
    )
    worker_threads: int = Field(
        default=32,
        ge=1,
        description=(
            "Threads that run plain (non-async) processor hooks. It caps how many plain hooks "
            "run at once, whatever max_in_flight says; async hooks do not use these threads."
        ),
    )
    max_in_flight: int = Field(
        default=64,
        ge=1,
        description=(
            "Most messages processed at once across all partitions. LLM calls mostly wait, so "
            "this sets throughput: about max_in_flight / call latency messages per second."
        ),
    )
    ordering: Literal["key", "partition", "unordered"] = Field(
        default="key",
        description=(
            "key: messages with the same key are processed one after another, other keys in "
            "parallel (a null key orders with nothing). partition: one message at a time per "
            "partition. unordered: any message may run beside any other. Outputs can be "
            "produced in a different order from the inputs in every mode except partition."
        ),
    )
    max_buffered: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Most consumed messages waiting for a free slot or for an earlier message with the "
            "same key; partitions are paused when it is reached. Defaults to 4 * max_in_flight. "
            "Memory is bounded by max_in_flight + max_buffered messages plus the client's prefetch."
        ),
    )
    revoke_timeout_s: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Seconds a revoke waits for in-flight work of the revoked partitions before "
            "committing what is done. Work that finishes later is dropped and replayed by the "
            "new owner. Keep it well below the group's rebalance timeout."
        ),
    )
    close_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description=(
            "Seconds the consumer's close may take before a watchdog gives up on it and logs "
            "so; guards against a broker that never answers the leave-group request."
        ),
    )
    commit_metadata: bool = Field(
        default=True,
        description=(
            "Store the offsets already done past the committed one in the commit metadata, so "
            "that after a crash only unfinished messages are processed again."
        ),
    )

    @property
    def buffer_limit(self) -> int:
        """The effective ``max_buffered``: the setting, or ``DEFAULT_BUFFER_FACTOR * max_in_flight``."""
        return self.max_buffered or DEFAULT_BUFFER_FACTOR * self.max_in_flight
