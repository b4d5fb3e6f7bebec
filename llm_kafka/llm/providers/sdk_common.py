"""Shared code of the providers built on the official ``openai`` and ``anthropic`` SDKs.

Both SDKs raise errors that carry an HTTP status and the response headers; this module
decides, from those alone, which ``LLMProviderError`` subclass a failure becomes. It also
builds the SDK client options, with the SDK's own retries off.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from llm_kafka.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMProviderError,
    ProviderConnectionError,
    ProviderOverloadedError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitError,
)
from llm_kafka.llm.providers.base import ProviderSettings


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
) -> LLMProviderError:
    """Return the typed error for an HTTP ``status`` returned by ``provider``."""
    text = f"{provider} model {model!r} returned HTTP {status}: {message}"
    if status == 429:
        retry_after = parse_retry_after(headers)
        return RateLimitError(text, retry_after=retry_after, provider=provider, model=model, status_code=status)

    error_type: type[LLMProviderError] = InvalidRequestError
    if status == 529:
        error_type = ProviderOverloadedError
    elif status in (401, 403):
        error_type = AuthenticationError
    elif status in (408, 409) or status >= 500:
        error_type = ProviderServerError
    return error_type(text, provider=provider, model=model, status_code=status)


def error_from_sdk(error: Exception, sdk: ModuleType, *, provider: str, model: str) -> LLMProviderError:
    """Return the typed error for an exception raised by the ``openai`` or ``anthropic`` SDK.

    Both SDKs name their exceptions alike: ``APITimeoutError``, ``APIConnectionError`` (its
    parent) and ``APIStatusError`` with ``status_code`` and ``response.headers``.
    """
    if isinstance(error, sdk.APITimeoutError):
        return ProviderTimeoutError(f"{provider} call timed out: {error}", provider=provider, model=model)
    if isinstance(error, sdk.APIConnectionError):
        return ProviderConnectionError(f"{provider} is not reachable: {error}", provider=provider, model=model)
    if isinstance(error, sdk.APIStatusError):
        headers = dict(error.response.headers)
        return error_for_status(error.status_code, str(error), headers=headers, provider=provider, model=model)
    return LLMProviderError(f"{provider} call failed: {error}", provider=provider, model=model)


def sdk_client_options(settings: ProviderSettings) -> dict[str, Any]:
    """Return the SDK client arguments for ``settings``, with the SDK's own retries off."""
    return {
        "api_key": settings.api_key,
        "base_url": settings.base_url,
        "timeout": settings.timeout,
        "max_retries": 0,
    }
