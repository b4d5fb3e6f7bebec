"""Settings for the Kafka clients, the pipeline, the LLM client and telemetry, checked at start-up.

Settings that would break at-least-once delivery are rejected with a message that names
the setting and the fix, instead of being silently overridden. ``Settings`` groups the four
models and loads them from code, ``LLM_KAFKA_...`` environment variables and a TOML or YAML
file (see ``llm_kafka.settings_file``). Reprs never show passwords, secrets or API keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm_kafka.errors import ConfigurationError

# librdkafka properties that llm-kafka owns on the consumer. Auto-commit and the automatic
# offset store would commit offsets of messages whose output was never delivered.
_CONSUMER_REQUIRED = {"enable.auto.commit": False, "enable.auto.offset.store": False}

# The producer is idempotent with acks=all so a retried send neither loses nor duplicates
# a record within one producer session.
_PRODUCER_DEFAULTS: dict[str, Any] = {"enable.idempotence": True, "acks": "all"}

_FALSE_STRINGS = {"false", "0", "no", "off"}

# librdkafka property names whose values are credentials: shown as "**********" in reprs.
_SECRET_PROPERTY_WORDS = ("password", "secret")
_SECRET_PROPERTIES = {"ssl.key.pem", "sasl.oauthbearer.config"}
_MASK = "**********"

_SASL_PROTOCOLS = {"SASL_PLAINTEXT", "SASL_SSL"}


def is_secret_property(name: str) -> bool:
    """Return whether librdkafka property ``name`` contains a credential."""
    lowered = name.lower()
    return lowered in _SECRET_PROPERTIES or any(word in lowered for word in _SECRET_PROPERTY_WORDS)


def mask_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Return ``properties`` with credential values replaced by a mask, for reprs and logs."""
    return {name: _MASK if is_secret_property(name) else value for name, value in properties.items()}


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
    """Connection and client settings shared by the consumer and producer.

    The security fields are the librdkafka properties of the same name with dots turned
    into underscores (``sasl_username`` is ``sasl.username``). They may instead be given
    with their librdkafka names in ``properties``, ``consumer`` or ``producer``, as in a
    confluent-kafka configuration dict. Giving one both ways with different values is an error.
    """

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str = Field(description="Comma-separated host:port list of brokers.")
    group_id: str = Field(description="Consumer group id of the pipeline.")
    auto_offset_reset: str = Field(
        default="earliest",
        description="Where a group with no committed offset starts: earliest, latest or error.",
    )
    client_id: str = Field(default="llm-kafka", description="Client id sent to the broker.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        default=None,
        description="security.protocol: how clients talk to the brokers. Default: librdkafka's PLAINTEXT.",
    )
    sasl_mechanism: str | None = Field(
        default=None,
        description="sasl.mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or GSSAPI.",
    )
    sasl_username: str | None = Field(default=None, description="sasl.username for PLAIN and SCRAM.")
    sasl_password: SecretStr | None = Field(default=None, description="sasl.password for PLAIN and SCRAM.")
    ssl_ca_location: str | None = Field(
        default=None, description="ssl.ca.location: file or folder of CA certificates that verify the brokers."
    )
    ssl_certificate_location: str | None = Field(
        default=None, description="ssl.certificate.location: the client's certificate file, for mutual TLS."
    )
    ssl_key_location: str | None = Field(
        default=None, description="ssl.key.location: the client's private key file, for mutual TLS."
    )
    ssl_key_password: SecretStr | None = Field(
        default=None, description="ssl.key.password: the passphrase of ssl_key_location."
    )
    properties: dict[str, Any] = Field(
        default_factory=dict,
        description="librdkafka properties for both the consumer and the producer, passed through.",
    )
    consumer: dict[str, Any] = Field(
        default_factory=dict, description="Extra librdkafka consumer properties, passed through."
    )
    producer: dict[str, Any] = Field(
        default_factory=dict, description="Extra librdkafka producer properties, passed through."
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name in {"properties", "consumer", "producer"} and isinstance(value, dict):
                value = mask_properties(value)
            yield name, value

    def secret_values(self) -> list[str]:
        """Return the credential values in these settings, for log redaction."""
        secrets = [field.get_secret_value() for field in (self.sasl_password, self.ssl_key_password) if field]
        for properties in (self.properties, self.consumer, self.producer):
            secrets.extend(str(value) for name, value in properties.items() if is_secret_property(name) and value)
        return secrets

    @field_validator("auto_offset_reset")
    @classmethod
    def _check_offset_reset(cls, value: str) -> str:
        if value not in {"earliest", "latest", "error"}:
            raise ValueError(f"auto_offset_reset must be earliest, latest or error, got {value!r}")
        return value

    def consumer_config(self) -> dict[str, Any]:
        """Return the librdkafka consumer configuration; raise ``ConfigurationError`` if unsafe."""
        common = self._common_config(self.consumer)
        for where, properties in (("consumer", self.consumer), ("properties", self.properties)):
            for name in _CONSUMER_REQUIRED:
                if name in properties and _is_true(properties[name]):
                    raise ConfigurationError(
                        f"kafka {where} setting {name}={properties[name]!r} is not allowed: llm-kafka "
                        f"commits an offset only after the message's output is delivered. "
                        f"Remove {name} from the {where} settings."
                    )
        return {
            "group.id": self.group_id,
            "auto.offset.reset": self.auto_offset_reset,
            **common,
            **_CONSUMER_REQUIRED,
        }

    def producer_config(self) -> dict[str, Any]:
        """Return the librdkafka producer configuration; raise ``ConfigurationError`` if unsafe."""
        common = self._common_config(self.producer)
        acks = str(common.get("acks", "all")).lower()
        idempotent = _is_true(common.get("enable.idempotence", True))
        if acks not in {"all", "-1"}:
            raise ConfigurationError(
                f"producer setting acks={common['acks']!r} is not allowed: a record "
                f"acknowledged by one replica can be lost, and its input would still be "
                f"committed. Use acks=all or remove the setting."
            )
        if not idempotent:
            raise ConfigurationError(
                "producer setting enable.idempotence=false is not allowed: retried sends could "
                "reorder or duplicate records. Remove the setting."
            )
        return {**_PRODUCER_DEFAULTS, **common}

    def _common_config(self, client_properties: dict[str, Any]) -> dict[str, Any]:
        """Merge connection, security and passed-through properties; check SASL and SSL."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id}
        typed = {
            "security.protocol": self.security_protocol,
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
        }
        passed = {**self.properties, **client_properties}
        for name, value in typed.items():
            if value is None:
                continue
            if name in passed and passed[name] != value:
                shown = _MASK if is_secret_property(name) else repr(passed[name])
                raise ConfigurationError(
                    f"{name} is set twice with different values: as {name.replace('.', '_')} and as "
                    f"the librdkafka property {name}={shown}. Keep one of them."
                )
            config[name] = value
        config.update(passed)
        _check_security(config)
        return config


def _check_security(config: dict[str, Any]) -> None:
    protocol = str(config.get("security.protocol", "PLAINTEXT")).upper()
    sasl_names = [name for name in ("sasl.mechanism", "sasl.username", "sasl.password") if name in config]
    if sasl_names and protocol not in _SASL_PROTOCOLS:
        raise ConfigurationError(
            f"{', '.join(sasl_names)} set but security.protocol is {protocol}, so the client would "
            f"not authenticate. Set security_protocol to SASL_SSL (or SASL_PLAINTEXT for a broker "
            f"without TLS)."
        )
    if ("sasl.username" in config) != ("sasl.password" in config):
        missing = "sasl.password" if "sasl.username" in config else "sasl.username"
        raise ConfigurationError(f"{missing} is missing: SASL PLAIN and SCRAM need both a username and a password.")
    if "ssl.key.location" in config and "ssl.certificate.location" not in config:
        raise ConfigurationError(
            "ssl.key.location is set without ssl.certificate.location: mutual TLS needs the "
            "client certificate as well as its key. Set ssl_certificate_location."
        )


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
    poll_timeout_s: float = Field(default=0.1, gt=0, description="Seconds one consumer poll waits for a record.")
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
            "same key; no new records are taken when it is reached, and a partition holding half "
            "of it is paused. Defaults to 4 * max_in_flight. "
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


class LLMSettings(BaseModel):
    """The LLM client a pipeline built from settings gets (``llm_kafka.LLMClient`` arguments)."""

    model_config = ConfigDict(extra="forbid")

    provider: str = Field(
        default="openai",
        description="Registered provider name: openai, anthropic, or one added by a plugin.",
    )
    model: str | None = Field(default=None, description="Model name. Default: the provider's default model.")
    base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI- or Anthropic-compatible server. Default: the provider's API.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="API key. Default: the provider's usual variable (OPENAI_API_KEY, ANTHROPIC_API_KEY).",
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Seconds one HTTP request may take.")
    max_tokens: int = Field(default=1024, ge=1, description="Default maximum output tokens per call.")
    temperature: float | None = Field(
        default=None, ge=0, description="Default sampling temperature. Default: the provider's."
    )
    max_attempts: int = Field(
        default=4, ge=1, description="Attempts per call, the first included, for retryable errors."
    )
    breaker_failure_threshold: int = Field(
        default=5, ge=1, description="Consecutive failed calls that open the circuit breaker."
    )
    breaker_recovery_timeout_s: float = Field(
        default=30.0, gt=0, description="Seconds the circuit breaker stays open before it lets one call through."
    )
    requests_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Requests per minute at most to this provider and model, for the whole process. Default: no limit.",
    )
    tokens_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="Input plus output tokens per minute at most, estimated before each call. Default: no limit.",
    )

    def client_options(self) -> dict[str, Any]:
        """Return the ``LLMClient`` keyword arguments these settings set, without the resilience ones."""
        return {
            "provider": self.provider,
            "model": self.model,
            "base_url": self.base_url,
            "api_key": self.api_key.get_secret_value() if self.api_key else None,
            "timeout": self.timeout_s,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }


class TelemetrySettings(BaseModel):
    """Logs, metrics and health endpoints of a pipeline run by ``llm-kafka run``."""

    model_config = ConfigDict(extra="forbid")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Level of the root logger."
    )
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people, json for log shippers (one JSON object per line)."
    )
    log_repeats_per_minute: int = Field(
        default=10,
        ge=0,
        description=(
            "Log lines let through per logger, level and message template each minute; 0 turns the limit off."
        ),
    )
    prometheus_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="TCP port of the Prometheus /metrics endpoint; 0 picks a free port. Default: off.",
    )
    prometheus_host: str = Field(default="127.0.0.1", description="Address the Prometheus endpoint listens on.")
    health_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="TCP port of the /livez and /readyz endpoint; 0 picks a free port. Default: off.",
    )
    health_host: str = Field(default="127.0.0.1", description="Address the health endpoint listens on.")
    liveness_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds without a poll-loop turn after which /livez reports the pipeline stuck.",
    )


class Settings(BaseSettings):
    """All settings of one pipeline, grouped as in a configuration file.

    Values come from, highest priority first: keyword arguments, environment variables,
    then the file given to ``llm_kafka.load_settings``. A variable name is the prefix, then
    the group and field joined by ``__``, as in ``LLM_KAFKA_KAFKA__BOOTSTRAP_SERVERS``.
    Dict and list fields take JSON.
    """

    model_config = SettingsConfigDict(
        env_prefix="LLM_KAFKA_", env_nested_delimiter="__", extra="forbid", nested_model_default_partial_update=True
    )

    kafka: KafkaSettings = Field(description="Kafka connection, security and client properties.")
    pipeline: PipelineSettings = Field(description="Topics, timing and concurrency of the pipeline.")
    llm: LLMSettings | None = Field(default=None, description="The LLM client. Default: none.")
    telemetry: TelemetrySettings = Field(
        default_factory=TelemetrySettings, description="Logs, metrics and health endpoints."
    )

    def secret_values(self) -> list[str]:
        """Return every credential value in the settings, for log redaction."""
        secrets = self.kafka.secret_values()
        if self.llm is not None and self.llm.api_key is not None:
            secrets.append(self.llm.api_key.get_secret_value())
        return secrets
