"""llm-kafka: run LLM work over Kafka streams with at-least-once delivery.

The public API is re-exported here; everything else is internal.
"""

from llm_kafka.config import KafkaSettings, PipelineSettings
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
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.pipeline import Pipeline
from llm_kafka.processor import BaseProcessor, ProcessingContext, RecordInfo
from llm_kafka.resilience.circuit_breaker import CircuitBreaker, CircuitState
from llm_kafka.resilience.retry import RetryPolicy, retry

__version__ = "0.1.0"

__all__ = [
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
    "InputMessage",
    "InvalidRequestError",
    "KafkaConsumerWorker",
    "KafkaError",
    "KafkaProducerWorker",
    "KafkaSettings",
    "LLMClient",
    "LLMKafkaError",
    "LLMProviderError",
    "LLMResponse",
    "MessageFormat",
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
    "RecordInfo",
    "RetryPolicy",
    "StructuredOutputError",
    "Usage",
    "__version__",
    "retry",
]
