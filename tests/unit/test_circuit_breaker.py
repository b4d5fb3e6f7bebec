"""Circuit breaker: state transitions with a fake clock."""

import asyncio

import pytest

from llm_kafka.errors import (
    AuthenticationError,
    CircuitOpenError,
    ContentFilterError,
    ContextLengthExceededError,
    InvalidRequestError,
    ProviderServerError,
    RateLimitError,
    StructuredOutputError,
)
from llm_kafka.resilience.circuit_breaker import CircuitBreaker, CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def failing() -> None:
    raise ProviderServerError("down")


def open_breaker(clock: FakeClock, threshold: int = 2) -> CircuitBreaker:
    breaker = CircuitBreaker("test", failure_threshold=threshold, recovery_timeout=10, clock=clock)
    for _ in range(threshold):
        with pytest.raises(ProviderServerError):
            breaker.call(failing)
    return breaker


def test_breaker_opens_after_consecutive_failures() -> None:
    breaker = open_breaker(FakeClock())

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "never called")


def test_breaker_admits_exactly_one_probe() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.now = 10

    breaker.acquire()
    with pytest.raises(CircuitOpenError):
        breaker.acquire()


def test_successful_probe_closes_breaker() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.now = 10

    assert breaker.call(lambda: "ok") == "ok"
    assert breaker.state is CircuitState.CLOSED


def test_failed_probe_reopens_with_fresh_timer() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.now = 10
    with pytest.raises(ProviderServerError):
        breaker.call(failing)

    clock.now = 19
    assert breaker.state is CircuitState.OPEN
    clock.now = 20
    assert breaker.state is CircuitState.HALF_OPEN


def test_caller_errors_do_not_open_breaker() -> None:
    breaker = CircuitBreaker("test", failure_threshold=1, recovery_timeout=10, clock=FakeClock())

    def bad_request() -> None:
        raise InvalidRequestError("bad")

    with pytest.raises(InvalidRequestError):
        breaker.call(bad_request)
    assert breaker.state is CircuitState.CLOSED


def test_listeners_see_each_transition_once() -> None:
    clock = FakeClock()
    seen: list[tuple[CircuitState, CircuitState]] = []
    breaker = CircuitBreaker("test", failure_threshold=1, recovery_timeout=10, clock=clock)
    breaker.add_listener(lambda _, old, new: seen.append((old, new)))

    with pytest.raises(ProviderServerError):
        breaker.call(failing)
    clock.now = 10
    breaker.call(lambda: None)

    assert seen == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]


def test_failure_rate_over_window_opens_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "test",
        failure_threshold=100,
        failure_rate_threshold=0.5,
        minimum_calls=4,
        window_s=60,
        clock=clock,
    )
    for _ in range(2):
        breaker.call(lambda: None)
        with pytest.raises(ProviderServerError):
            breaker.call(failing)

    assert breaker.state is CircuitState.OPEN


def test_failures_outside_window_do_not_count() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "test",
        failure_threshold=100,
        failure_rate_threshold=0.5,
        minimum_calls=4,
        window_s=10,
        clock=clock,
    )
    for _ in range(2):
        with pytest.raises(ProviderServerError):
            breaker.call(failing)
        breaker.call(lambda: None)
    clock.now = 30
    with pytest.raises(ProviderServerError):
        breaker.call(failing)
    for _ in range(3):
        breaker.call(lambda: None)

    assert breaker.state is CircuitState.CLOSED


def test_provider_wide_error_opens_at_once() -> None:
    breaker = CircuitBreaker("test", failure_threshold=5, clock=FakeClock())

    def unauthorized() -> None:
        raise AuthenticationError("bad key")

    with pytest.raises(AuthenticationError):
        breaker.call(unauthorized)
    assert breaker.state is CircuitState.OPEN


@pytest.mark.parametrize(
    "error",
    [
        ContextLengthExceededError("too long"),
        ContentFilterError("refused"),
        StructuredOutputError("bad json", raw_output="{"),
        RateLimitError("slow down", retry_after=1),
    ],
)
def test_caller_and_rate_errors_are_not_failures(error: Exception) -> None:
    breaker = CircuitBreaker("test", failure_threshold=1, clock=FakeClock())

    def raise_it() -> None:
        raise error

    with pytest.raises(type(error)):
        breaker.call(raise_it)
    assert breaker.state is CircuitState.CLOSED


def test_late_failure_after_close_causes_no_transition() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("test", failure_threshold=1, recovery_timeout=10, clock=clock)
    slow_call = breaker.acquire()
    with pytest.raises(ProviderServerError):
        breaker.call(failing)
    clock.now = 10
    breaker.call(lambda: None)
    assert breaker.state is CircuitState.CLOSED

    breaker.record_failure(slow_call, ProviderServerError("late"))

    assert breaker.state is CircuitState.CLOSED


def test_late_success_while_open_causes_no_transition() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("test", failure_threshold=1, recovery_timeout=10, clock=clock)
    slow_call = breaker.acquire()
    with pytest.raises(ProviderServerError):
        breaker.call(failing)

    breaker.record_success(slow_call)

    assert breaker.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError):
        breaker.acquire()


def test_released_probe_lets_next_caller_probe() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.now = 10
    probe = breaker.acquire()

    breaker.release(probe)

    assert breaker.acquire().probe


def test_cancelled_async_probe_is_released() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.now = 10

    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(breaker.acall(cancelled))
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.acquire().probe


def test_time_until_call_reports_open_period() -> None:
    clock = FakeClock()
    breaker = open_breaker(clock)
    clock.now = 4

    assert breaker.time_until_call() == pytest.approx(6)
    clock.now = 10
    assert breaker.time_until_call() == 0.0


def test_protect_wraps_plain_and_async_functions() -> None:
    breaker = CircuitBreaker("test", failure_threshold=2, clock=FakeClock())

    @breaker.protect
    def plain(value: int) -> int:
        return value + 1

    @breaker.protect
    async def coroutine(value: int) -> int:
        return value * 2

    assert plain(1) == 2
    assert asyncio.run(coroutine(3)) == 6


def test_invalid_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="failure_rate_threshold"):
        CircuitBreaker("test", failure_rate_threshold=0)
