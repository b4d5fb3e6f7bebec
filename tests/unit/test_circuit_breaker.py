"""Circuit breaker: state transitions with a fake clock."""

import pytest

from llm_kafka.errors import CircuitOpenError, InvalidRequestError, ProviderServerError
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
