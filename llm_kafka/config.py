"""Settings for the Kafka clients and the pipeline, checked at start-up.

Settings that would break at-least-once delivery are rejected with a message that names
the setting and the fix, instead of being silently overridden.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llm_kafka.errors import ConfigurationError

# librdkafka properties that llm-kafka owns on the consumer. Auto-commit and the automatic
# offset store would commit offsets of messages whose output was never delivered.
_CONSUMER_REQUIRED = {"enable.auto.commit": False, "enable.auto.offset.store": False}

# The producer is idempotent with acks=all so a retried send neither loses nor duplicates
# a record within one producer session.
_PRODUCER_DEFAULTS: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}

_FALSE_STRINGS = {"false", "0", "no", "off"}


def _is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_STRINGS
    return bool(value)


class KafkaSettings(BaseModel):
    """Connection and client settings shared by the consumer and producer."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str = Field(
        description="Comma-separated host:port list of brokers."
    )
    group_id: str = Field(description="Consumer group id of the pipeline.")
    auto_offset_reset: str = Field(
        default="earliest",
        description="Where a group with no committed offset starts: earliest or latest.",
    )
    client_id: str = Field(
        default="llm-kafka", description="Client id sent to the broker."
    )
    consumer: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra librdkafka consumer properties, passed through.",
    )
    producer: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra librdkafka producer properties, passed through.",
    )

    @field_validator("auto_offset_reset")
    @classmethod
    def _check_offset_reset(cls, value: str) -> str:
        if value not in {"earliest", "latest", "error"}:
            raise ValueError(
                f"auto_offset_reset must be earliest, latest or error, got {value!r}"
            )
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

    input_topics: list[str] = Field(
        min_length=1, description="Topics the pipeline consumes."
    )
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
        description="Seconds stop() waits for the current message and pending deliveries.",
    )
    worker_threads: int = Field(
        default=8,
        ge=1,
        description="Threads that run plain (non-async) processor hooks.",
    )
