"""llm-kafka: run LLM work over Kafka streams with at-least-once delivery.

The public API is re-exported here; everything else is internal.
"""

from llm_kafka.config import (
    KafkaSettings,
    LLMSettings,
    PipelineSettings,
    Settings,
    TelemetrySettings,
)
from llm_kafka.dead_letter_replay import ReplayFilter, ReplayReport, replay_dead_letters
from llm_kafka.errors import (
    AuthenticationError,
    CircuitOpenError,
    CommitError,
    ConfigurationError,
    DeliveryError,
    DeserializationError,
    InvalidRequestError,
    KafkaError,
    LLMKafkaError,
    LLMProviderError,
    MessageValidationError,
    OutputTooLargeError,
    ProcessingError,
    ProviderConnectionError,
    ProviderOverloadedError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitError,
    StructuredOutputError,
)
from llm_kafka.kafka.consumer import KafkaConsumerWorker
from llm_kafka.kafka.producer import KafkaProducerWorker
from llm_kafka.llm.client import LLMClient
from llm_kafka.llm.types import ChatMessage, LLMResponse, Usage
from llm_kafka.messages import InputMessage, MessageFormat, OutputMessage
from llm_kafka.observability.health import HealthServer, HealthState
from llm_kafka.observability.health_transport import HealthReportingTransport
from llm_kafka.observability.instruments import BUILTIN_INSTRUMENTS
from llm_kafka.observability.logging import (
    JsonFormatter,
    RateLimitFilter,
    RedactingFilter,
    configure_logging,
    register_secret,
)
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.observability.prometheus import start_prometheus_endpoint
from llm_kafka.observability.tracing import MessageTracer
from llm_kafka.pipeline import Pipeline
from llm_kafka.processor import BaseProcessor, ProcessingContext, RecordInfo
from llm_kafka.resilience.circuit_breaker import CircuitBreaker, CircuitState
from llm_kafka.resilience.retry import RetryPolicy, retry
from llm_kafka.settings_file import load_settings

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_INSTRUMENTS",
    "AuthenticationError",
    "BaseProcessor",
    "ChatMessage",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CommitError",
    "ConfigurationError",
    "DeliveryError",
    "DeserializationError",
    "HealthReportingTransport",
    "HealthServer",
    "HealthState",
    "InputMessage",
    "InvalidRequestError",
    "JsonFormatter",
    "KafkaConsumerWorker",
    "KafkaError",
    "KafkaProducerWorker",
    "KafkaSettings",
    "LLMClient",
    "LLMKafkaError",
    "LLMProviderError",
    "LLMResponse",
    "LLMSettings",
    "MessageFormat",
    "MessageTracer",
    "MessageValidationError",
    "MetricsCollector",
    "OutputMessage",
    "OutputTooLargeError",
    "Pipeline",
    "PipelineSettings",
    "ProcessingContext",
    "ProcessingError",
    "ProviderConnectionError",
    "ProviderOverloadedError",
    "ProviderServerError",
    "ProviderTimeoutError",
    "RateLimitError",
    "RateLimitFilter",
    "RecordInfo",
    "RedactingFilter",
    "ReplayFilter",
    "ReplayReport",
    "RetryPolicy",
    "Settings",
    "StructuredOutputError",
    "TelemetrySettings",
    "Usage",
    "__version__",
    "configure_logging",
    "load_settings",
    "register_secret",
    "replay_dead_letters",
    "retry",
    "start_prometheus_endpoint",
]
