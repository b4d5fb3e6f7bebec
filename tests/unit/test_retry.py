"""Retry policy: backoff, retry-after and give-up rules."""

import asyncio
import random

import pytest

from llm_kafka.errors import InvalidRequestError, ProviderServerError, RateLimitError
from llm_kafka.resilience.retry import RetryPolicy, call_with_retry, retry


def test_delay_grows_exponentially_within_jitter() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=100.0)
    rng = random.Random(1)
    error = ProviderServerError("boom")

    for attempt in range(1, 6):
        wait = policy.delay(attempt, error, rng)
        assert wait is not None
        assert 0 <= wait <= 2 ** (attempt - 1)


def test_retry_after_is_never_shortened_by_jitter() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.01)
    error = RateLimitError("slow down", retry_after=2.5)

    assert policy.delay(1, error, random.Random(0)) == 2.5


def test_retry_after_beyond_cap_stops_retrying() -> None:
    policy = RetryPolicy(max_attempts=3, max_retry_after=10)

    assert policy.delay(1, RateLimitError("later", retry_after=11)) is None


def test_non_retryable_error_is_raised_at_once() -> None:
    calls = []

    def fail() -> None:
        calls.append(1)
        raise InvalidRequestError("bad request")

    with pytest.raises(InvalidRequestError) as raised:
        call_with_retry(RetryPolicy(max_attempts=5), fail, sleep=lambda _: None)
    assert len(calls) == 1
    assert raised.value.attempts == 1


def test_retryable_error_gives_up_after_max_attempts() -> None:
    calls = []

    def fail() -> None:
        calls.append(1)
        raise ProviderServerError("down")

    with pytest.raises(ProviderServerError) as raised:
        call_with_retry(
            RetryPolicy(max_attempts=3, base_delay=0), fail, sleep=lambda _: None
        )
    assert len(calls) == 3
    assert raised.value.attempts == 3


def test_decorator_retries_async_function() -> None:
    calls = []

    @retry(RetryPolicy(max_attempts=3, base_delay=0))
    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ProviderServerError("down")
        return "ok"

    assert asyncio.run(flaky()) == "ok"
    assert len(calls) == 3
