"""Shared code of the providers built on the official ``openai`` and ``anthropic`` SDKs.

Both SDKs raise errors that carry an HTTP status, the response headers and the parsed error
body. This module decides from those which ``LLMProviderError`` subclass a failure becomes.
It also builds the SDK client options with the SDK's own retries off, and warns when a
user-supplied SDK client would retry on its own.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from llm_kafka.errors import (
    AuthenticationError,
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    LLMProviderError,
    ModelNotFoundError,
    ProviderConnectionError,
    ProviderOverloadedError,
    ProviderServerError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimitError,
)
from llm_kafka.llm.providers.base import ProviderSettings

logger = logging.getLogger(__name__)

# Error types and codes that mean the account's money or spend limit ran out, from OpenAI
# ("insufficient_quota") and Anthropic ("billing_error" and the spend-limit codes of 429s).
_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_error",
        "billing_hard_limit_reached",
        "enforced_spend_limit_reached",
        "contract_spend_limit_reached",
    }
)
_QUOTA_TEXT = re.compile(r"exceeded your current quota|credit balance is too low", re.IGNORECASE)
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_TEXT = re.compile(
    r"maximum context length|context window|context length|prompt is too long|too many (input )?tokens",
    re.IGNORECASE,
)
_CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})
_CONTENT_FILTER_TEXT = re.compile(r"content management policy|content filter", re.IGNORECASE)


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Return the server's requested wait in seconds, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after`` may be seconds or an HTTP date. Returns None when neither header is usable.
    """
    if not headers:
        return None
    lowered = {name.lower(): value for name, value in headers.items()}

    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000.0)
        except ValueError:
            pass

    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def error_for_status(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None,
    provider: str,
    model: str,
    error_type: str | None = None,
    error_code: str | None = None,
) -> LLMProviderError:
    """Return the typed error for an HTTP ``status`` returned by ``provider``.

    ``error_type`` and ``error_code`` are the ``type`` and ``code`` fields of the provider's
    error body. They decide where the status alone cannot: a 429 for an exhausted quota, a
    400 for a prompt over the context window, and an ``overloaded_error`` event that arrives
    inside a 200 streaming response.
    """
    text = f"{provider} model {model!r} returned HTTP {status}: {message}"
    kinds = {value.lower() for value in (error_type, error_code) if value}
    error_class = _classify(status, message, kinds)
    retry_after = parse_retry_after(headers)

    error: LLMProviderError
    if error_class is RateLimitError:
        error = RateLimitError(
            text,
            retry_after=retry_after,
            provider=provider,
            model=model,
            status_code=status,
        )
    else:
        error = error_class(text, provider=provider, model=model, status_code=status)
        error.retry_after = retry_after
    error.headers = {name.lower(): value for name, value in (headers or {}).items()}
    return error


def _classify(status: int, message: str, kinds: set[str]) -> type[LLMProviderError]:
    if kinds & _QUOTA_CODES or status == 402 or _QUOTA_TEXT.search(message):
        return QuotaExhaustedError
    if "overloaded_error" in kinds or status == 529:
        return ProviderOverloadedError
    if status == 429 or "rate_limit_error" in kinds:
        return RateLimitError
    if status in (401, 403) or kinds & {
        "authentication_error",
        "permission_error",
        "invalid_api_key",
    }:
        return AuthenticationError
    if status == 404 or "model_not_found" in kinds:
        # On a completion endpoint a 404 means the model is unknown or the key cannot use it
        # (or base_url is wrong): every call to this model fails the same way.
        return ModelNotFoundError
    if status in (408, 409) or status >= 500 or "api_error" in kinds:
        return ProviderServerError
    if kinds & _CONTEXT_CODES or _CONTEXT_TEXT.search(message):
        return ContextLengthExceededError
    if kinds & _CONTENT_FILTER_CODES or _CONTENT_FILTER_TEXT.search(message):
        return ContentFilterError
    if status < 400:
        # An error event inside a successful streaming response, of a type not named above.
        return ProviderServerError
    return InvalidRequestError


def _body_fields(body: object) -> tuple[str | None, str | None]:
    """Return (type, code) of an error body, in either SDK's shape."""
    if not isinstance(body, Mapping):
        return None, None
    inner = body.get("error")
    fields = inner if isinstance(inner, Mapping) else body
    error_type = fields.get("type")
    error_code = fields.get("code")
    return (
        error_type if isinstance(error_type, str) else None,
        error_code if isinstance(error_code, str) else None,
    )


def error_from_sdk(error: Exception, sdk: ModuleType, *, provider: str, model: str) -> LLMProviderError:
    """Return the typed error for an exception raised by the ``openai`` or ``anthropic`` SDK.

    Both SDKs name their exceptions alike: ``APITimeoutError``, ``APIConnectionError`` (its
    parent) and ``APIStatusError`` with ``status_code``, ``body`` and ``response.headers``.
    """
    if isinstance(error, sdk.APITimeoutError):
        return ProviderTimeoutError(f"{provider} call timed out: {error}", provider=provider, model=model)
    if isinstance(error, sdk.APIConnectionError):
        url = getattr(getattr(error, "request", None), "url", None)
        where = f" at {url}" if url is not None else ""
        return ProviderConnectionError(
            f"{provider} is not reachable{where}: {error} Check base_url and that the server is up.",
            provider=provider,
            model=model,
        )
    if isinstance(error, sdk.APIStatusError):
        headers = dict(error.response.headers)
        error_type, error_code = _body_fields(getattr(error, "body", None))
        return error_for_status(
            error.status_code,
            str(error),
            headers=headers,
            provider=provider,
            model=model,
            error_type=error_type,
            error_code=error_code,
        )
    return LLMProviderError(f"{provider} call failed: {error}", provider=provider, model=model)


def sdk_client_options(settings: ProviderSettings) -> dict[str, Any]:
    """Return the SDK client arguments for ``settings``, with the SDK's own retries off."""
    return {
        "api_key": settings.api_key,
        "base_url": settings.base_url,
        "timeout": settings.timeout,
        "max_retries": 0,
    }


def sdk_clients(
    settings: ProviderSettings,
    provider: str,
    sync_factory: Callable[..., Any],
    async_factory: Callable[..., Any],
) -> tuple[Any, Any]:
    """Return the plain and async SDK clients: the user's from ``settings.options`` or new ones.

    New clients have the SDK's retries off; a user's client that retries gets a warning.
    """
    common = sdk_client_options(settings)
    user_client = settings.options.get("client")
    user_async_client = settings.options.get("async_client")
    for client in (user_client, user_async_client):
        if client is not None:
            warn_if_sdk_retries(client, provider)
    return user_client or sync_factory(**common), user_async_client or async_factory(**common)


def warn_if_sdk_retries(client: object, provider: str) -> None:
    """Log a warning when a user-supplied SDK ``client`` retries on its own.

    ``LLMClient`` owns retries; an SDK client with ``max_retries > 0`` multiplies them and
    hides 429s from the rate-limit gate. Build it with ``max_retries=0``.
    """
    retries = getattr(client, "max_retries", 0)
    if isinstance(retries, int) and retries > 0:
        logger.warning(
            "the %s SDK client passed to llm-kafka has max_retries=%d; llm-kafka retries itself, "
            "so each failure would be retried up to %d more times and 429s would bypass the "
            "rate-limit gate. Build the client with max_retries=0.",
            provider,
            retries,
            retries,
        )


def response_headers(raw: Any) -> dict[str, str]:
    """Return the lower-cased headers of an SDK raw response (``with_raw_response``)."""
    headers = getattr(raw, "headers", None)
    if headers is None:
        return {}
    return {str(name).lower(): str(value) for name, value in headers.items()}
