"""Translation of provider HTTP failures into llm-kafka's typed errors.

Both official SDKs raise errors that carry an HTTP status and the response headers; this
module decides, from those alone, which ``LLMProviderError`` subclass a failure becomes.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from llm_kafka.errors import (
    AuthenticationError,
    InvalidRequestError,
    LLMProviderError,
    ProviderOverloadedError,
    ProviderServerError,
    RateLimitError,
)


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
    """Return the typed error for an HTTP ``status`` answered by ``provider``."""
    context = {"provider": provider, "model": model, "status_code": status}
    text = f"{provider} model {model!r} returned HTTP {status}: {message}"
    if status == 429:
        return RateLimitError(text, retry_after=parse_retry_after(headers), **context)
    if status == 529:
        return ProviderOverloadedError(text, **context)
    if status in (401, 403):
        return AuthenticationError(text, **context)
    if status in (408, 409) or status >= 500:
        return ProviderServerError(text, **context)
    return InvalidRequestError(text, **context)
