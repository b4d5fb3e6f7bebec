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
    ``provider_wide`` is true when every call to this provider and model would fail the same
    way (bad credentials, exhausted quota, unknown model, a long rate-limit pause): the
    pipeline then pauses consumption instead of dead-lettering message after message.
    """

    provider_wide: bool = False

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
        self.retry_after: float | None = None
        self.headers: dict[str, str] = {}
        """Response headers, lower-cased, when the provider responded; the rate limiter reads them."""


class RateLimitError(LLMProviderError):
    """Raised on HTTP 429. Retryable; ``retry_after`` is the server's wait in seconds, if sent.

    ``LLMClient`` sets ``provider_wide`` when the server requests a wait longer than
    ``RetryPolicy.max_retry_after``: the message should wait for ``LLMClient.wait_time()``
    rather than hold a worker.
    """

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
    """Raised when the provider rejected the request itself (HTTP 400, 422 and other 4xx).

    Not retryable: the same request fails the same way. The caller's fault, so it does not
    count against the circuit breaker.
    """


class ContextLengthExceededError(InvalidRequestError):
    """Raised when the prompt plus ``max_tokens`` does not fit the model's context window.

    Not retryable for this message; shorten the prompt or lower ``max_tokens``.
    """


class ContentFilterError(LLMProviderError):
    """Raised when the provider filtered the request or output, or the model refused the request.

    Not retryable for this message, and not counted against the circuit breaker.
    ``raw_output`` keeps any text the model returned, such as the refusal message.
    """

    def __init__(self, message: str, *, raw_output: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.raw_output = raw_output


class OutputTruncatedError(LLMProviderError):
    """Raised when the output stopped at ``max_tokens`` again after one retry with a larger limit.

    Not retryable for this message; ``raw_output`` keeps the truncated text.
    """

    def __init__(self, message: str, *, raw_output: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.raw_output = raw_output


class AuthenticationError(LLMProviderError):
    """Raised on HTTP 401 and 403. Not retryable and provider-wide: every later call fails too."""

    provider_wide = True


class QuotaExhaustedError(LLMProviderError):
    """Raised when the account's credit or spend limit is used up (OpenAI ``insufficient_quota``,
    HTTP 402, Anthropic spend-limit errors).

    Not retryable and provider-wide: calls fail until someone adds credit or raises the limit.
    """

    provider_wide = True


class ModelNotFoundError(LLMProviderError):
    """Raised when the provider does not know the model or the key has no access to it (HTTP 404).

    Not retryable and provider-wide: fix the model name in the configuration.
    """

    provider_wide = True


class DeadlineExceededError(LLMProviderError):
    """Raised when a message's deadline passed before an attempt could succeed.

    The deadline is shared by every attempt and fallback of one call. Not retryable.
    """


class CircuitOpenError(LLMProviderError):
    """Raised without calling the provider while its circuit breaker is open.

    Retryable once the breaker lets a probe through; ``retry_after`` is the time until then.
    Provider-wide: while the breaker is open, every message would get this error.
    """

    retryable = True
    provider_wide = True

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


def is_provider_wide(error: BaseException) -> bool:
    """Return whether ``error`` affects every call to its provider and model, not one message."""
    return isinstance(error, LLMProviderError) and error.provider_wide
