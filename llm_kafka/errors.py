"""The llm-kafka error hierarchy.

Every error states whether retrying the same work can succeed (``retryable``), so the
retry loop and the pipeline decide by type, never by parsing a message. Three families
exist: ``ProcessingError`` for one message that cannot be handled, ``KafkaError`` for the
broker side, and ``LLMProviderError`` for calls to a model provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class LLMKafkaError(Exception):
    """Base class of every error that llm-kafka raises on purpose."""

    retryable: bool = False


class ConfigurationError(LLMKafkaError, ValueError):
    """Raised at start-up when a setting is invalid or would break delivery guarantees."""


# --- one message -------------------------------------------------------------------


class ProcessingError(LLMKafkaError):
    """Raised when one message cannot be processed; the message goes to the dead-letter topic.

    Not retryable unless a subclass states otherwise: the same input gives the same failure.
    """


class DeserializationError(ProcessingError):
    """Raised when a record value is null, not UTF-8, not JSON, or not a JSON object."""


class MessageValidationError(ProcessingError):
    """Raised when a message does not match the expected model; ``fields`` names the bad fields."""

    def __init__(self, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.fields: tuple[str, ...] = tuple(fields)


class OutputTooLargeError(ProcessingError):
    """Raised when a result is larger than the producer accepts; retrying cannot help."""


# --- Kafka -------------------------------------------------------------------------


class KafkaError(LLMKafkaError):
    """Base class of errors from the Kafka client or broker."""


class DeliveryError(KafkaError):
    """Raised or reported when the broker did not acknowledge a produced record."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class CommitError(KafkaError):
    """Raised when committing consumer offsets failed."""


# --- LLM providers -----------------------------------------------------------------


class LLMProviderError(LLMKafkaError):
    """Base class of failures of a call to an LLM provider.

    ``attempts`` counts the calls made before the error was raised, retries included.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.attempts = attempts


class RateLimitError(LLMProviderError):
    """Raised on HTTP 429. Retryable; ``retry_after`` is the server's wait in seconds, if sent."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ProviderTimeoutError(LLMProviderError):
    """Raised when a call timed out before the provider responded. Retryable."""

    retryable = True


class ProviderConnectionError(LLMProviderError):
    """Raised when the provider could not be reached. Retryable."""

    retryable = True


class ProviderServerError(LLMProviderError):
    """Raised on HTTP 408, 409 and 5xx responses. Retryable."""

    retryable = True


class ProviderOverloadedError(ProviderServerError):
    """Raised on Anthropic's 529 overloaded response. Retryable."""


class InvalidRequestError(LLMProviderError):
    """Raised when the provider rejected the request itself (HTTP 400, 404, 422). Not retryable."""


class AuthenticationError(LLMProviderError):
    """Raised on HTTP 401 and 403. Not retryable: every later call fails the same way."""


class CircuitOpenError(LLMProviderError):
    """Raised without calling the provider while its circuit breaker is open.

    Retryable once the breaker lets a probe through; ``retry_after`` is the time until then.
    """

    retryable = True

    def __init__(self, message: str, *, retry_after: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class StructuredOutputError(LLMProviderError):
    """Raised when the model's output does not parse or validate as the requested schema.

    Not retryable for this message; ``raw_output`` keeps the text the model returned.
    """

    def __init__(self, message: str, *, raw_output: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.raw_output = raw_output


def is_retryable(error: BaseException) -> bool:
    """Return whether retrying the work that raised ``error`` can succeed."""
    return isinstance(error, LLMKafkaError) and error.retryable
