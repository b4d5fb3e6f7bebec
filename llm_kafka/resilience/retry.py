"""Retry with exponential backoff and full jitter, honouring a server's ``retry_after``.

``RetryPolicy`` contains the numbers, and ``retry`` wraps a plain or ``async def`` function.
Only errors for which ``is_retryable`` is true are retried, so a bad request fails at
once. Every retry decision is one debug log line with its reason.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import backoff

from llm_kafka.errors import LLMProviderError, is_retryable

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    The wait before attempt ``n + 1`` is ``uniform(0, min(max_delay, base_delay * 2**(n-1)))``
    (full jitter, from ``backoff.full_jitter``). A server's ``retry_after`` replaces it when
    longer, is never shortened by jitter, and is capped at ``max_retry_after``: a server that
    requests a longer wait than the cap ends the retries, because one message should not hold
    a worker for minutes.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0
    should_retry: Callable[[BaseException], bool] = is_retryable

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("base_delay and max_delay must not be negative")

    def delay(self, attempt: int, error: BaseException, rng: random.Random | None = None) -> float | None:
        """Return seconds to wait after failed attempt ``attempt`` (1-based), or None to stop."""
        if attempt >= self.max_attempts or not self.should_retry(error):
            return None

        exponential = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        jittered = backoff.full_jitter(exponential) if rng is None else rng.uniform(0, exponential)

        retry_after = getattr(error, "retry_after", None)
        if retry_after is None:
            return float(jittered)
        if retry_after > self.max_retry_after:
            return None
        return max(float(retry_after), float(jittered))


def _record_attempts(error: BaseException, attempts: int) -> None:
    if isinstance(error, LLMProviderError):
        error.attempts = attempts


def _log_retry(func: Callable[..., Any], attempt: int, wait: float, error: BaseException) -> None:
    logger.debug(
        "retrying %s after attempt %d in %.2fs because of %s: %s",
        getattr(func, "__qualname__", func),
        attempt,
        wait,
        type(error).__name__,
        error,
    )


def call_with_retry(
    policy: RetryPolicy,
    func: Callable[[], Any],
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """Call ``func`` until it returns or ``policy`` gives up, then re-raise the last error."""
    attempt = 1
    while True:
        try:
            return func()
        except Exception as error:
            wait = policy.delay(attempt, error)
            if wait is None:
                _record_attempts(error, attempt)
                raise
            _log_retry(func, attempt, wait, error)
            sleep(wait)
            attempt += 1


async def acall_with_retry(policy: RetryPolicy, func: Callable[[], Awaitable[Any]]) -> Any:
    """Await ``func()`` until it returns or ``policy`` gives up, then re-raise the last error."""
    attempt = 1
    while True:
        try:
            return await func()
        except Exception as error:
            wait = policy.delay(attempt, error)
            if wait is None:
                _record_attempts(error, attempt)
                raise
            _log_retry(func, attempt, wait, error)
            await asyncio.sleep(wait)
            attempt += 1


def retry(policy: RetryPolicy | None = None) -> Callable[[F], F]:
    """Decorate a plain or ``async def`` function to retry retryable errors under ``policy``.

    Example::

        @retry(RetryPolicy(max_attempts=3))
        async def classify(text): ...
    """
    active = policy or RetryPolicy()

    def decorate(func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await acall_with_retry(active, lambda: func(*args, **kwargs))

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return call_with_retry(active, lambda: func(*args, **kwargs))

        return cast(F, sync_wrapper)

    return decorate
