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
    ContentFilterError,
    ContextLengthExceededError,
    DeadlineExceededError,
    DeliveryError,
    DeserializationError,
    InvalidRequestError,
    KafkaError,
    LLMKafkaError,
    LLMProviderError,
    MessageValidationError,
    ModelNotFoundError,
    OutputTooLargeError,
    OutputTruncatedError,
    ProcessingError,
    ProviderConnectionError,
    ProviderOverloadedError,
    ProviderServerError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
    StructuredOutputError,
    is_provider_wide,
)
from llm_kafka.kafka.consumer import KafkaConsumerWorker
from llm_kafka.kafka.producer import KafkaProducerWorker
from llm_kafka.llm.cache import InMemoryResponseCache, ResponseCache
from llm_kafka.llm.client import LLMClient
from llm_kafka.llm.cost import ModelPrice, PriceTable
from llm_kafka.llm.deadline import current_deadline, deadline_after
from llm_kafka.llm.rate_limit import RateLimiter, RateLimits
from llm_kafka.llm.structured import StructuredResponse
from llm_kafka.llm.types import ChatMessage, EmbeddingResponse, LLMResponse, Usage
from llm_kafka.llm.usage import UsageSummary, UsageTracker, current_usage, track_usage
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
from llm_kafka.resilience.circuit_breaker import CircuitBreaker, CircuitState, Permit
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
    "ContentFilterError",
    "ContextLengthExceededError",
    "DeadlineExceededError",
    "DeliveryError",
    "DeserializationError",
    "EmbeddingResponse",
    "HealthReportingTransport",
    "HealthServer",
    "HealthState",
    "InMemoryResponseCache",
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
    "ModelNotFoundError",
    "ModelPrice",
    "OutputMessage",
    "OutputTooLargeError",
    "OutputTruncatedError",
    "Permit",
    "Pipeline",
    "PipelineSettings",
    "PriceTable",
    "ProcessingContext",
    "ProcessingError",
    "ProviderConnectionError",
    "ProviderOverloadedError",
    "ProviderServerError",
    "ProviderTimeoutError",
    "QuotaExhaustedError",
    "RateLimitError",
    "RateLimitFilter",
    "RateLimiter",
    "RateLimits",
    "RecordInfo",
    "RedactingFilter",
    "ReplayFilter",
    "ReplayReport",
    "ResponseCache",
    "RetryPolicy",
    "Settings",
    "StructuredOutputError",
    "StructuredResponse",
    "TelemetrySettings",
    "Usage",
    "UsageSummary",
    "UsageTracker",
    "__version__",
    "configure_logging",
    "current_deadline",
    "current_usage",
    "deadline_after",
    "is_provider_wide",
    "load_settings",
    "register_secret",
    "replay_dead_letters",
    "retry",
    "start_prometheus_endpoint",
    "track_usage",
]
