"""RateLimiter alone, with a fake clock: budgets, reservations, settling, the gate and headers."""

from __future__ import annotations

import asyncio
import time

import pytest

from llm_kafka import DeadlineExceededError, RateLimiter, RateLimits, Usage
from llm_kafka.llm.rate_limit import (
    CLOCK_MARGIN_SECONDS,
    RateLimiterRegistry,
    Reservation,
    parse_duration,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(clock: FakeClock, **limits: int) -> RateLimiter:
    return RateLimiter("test", RateLimits(**limits), clock=clock, wall_clock=lambda: 5000.0 + clock.now)


def reserve(rate_limiter: RateLimiter, input_tokens: int = 0, output_tokens: int = 0) -> Reservation:
    result = rate_limiter.try_acquire(input_tokens, output_tokens)
    assert isinstance(result, Reservation), f"expected a reservation, got a wait of {result}s"
    return result


def test_request_budget_waits_for_oldest_to_expire() -> None:
    clock = FakeClock()
    limited = limiter(clock, requests_per_minute=2)
    reserve(limited)
    clock.now += 10
    reserve(limited)

    assert limited.wait_time() == pytest.approx(50 + CLOCK_MARGIN_SECONDS)
    clock.now += 50 + CLOCK_MARGIN_SECONDS
    assert limited.wait_time() == 0.0


def test_token_reservation_counts_max_tokens_until_settled() -> None:
    clock = FakeClock()
    limited = limiter(clock, tokens_per_minute=1000)
    reservation = reserve(limited, input_tokens=100, output_tokens=800)

    assert limited.wait_time(input_tokens=100, output_tokens=100) > 0
    limited.settle(reservation, Usage(input_tokens=100, output_tokens=50))
    assert limited.wait_time(input_tokens=100, output_tokens=100) == 0.0


def test_separate_input_and_output_budgets() -> None:
    clock = FakeClock()
    limited = limiter(clock, input_tokens_per_minute=500, output_tokens_per_minute=100)
    reserve(limited, input_tokens=100, output_tokens=100)

    assert limited.wait_time(input_tokens=100, output_tokens=0) == 0.0
    assert limited.wait_time(input_tokens=0, output_tokens=1) > 0


def test_oversized_request_passes_on_empty_window() -> None:
    limited = limiter(FakeClock(), tokens_per_minute=100)

    assert limited.wait_time(input_tokens=500, output_tokens=500) == 0.0


def test_failed_call_keeps_request_but_frees_tokens() -> None:
    clock = FakeClock()
    limited = limiter(clock, requests_per_minute=2, tokens_per_minute=1000)
    reservation = reserve(limited, input_tokens=900)
    limited.settle(reservation, None)

    assert limited.wait_time(input_tokens=900) == 0.0
    reserve(limited, input_tokens=900)
    assert limited.wait_time() > 0


def test_gate_stops_every_caller_until_reset() -> None:
    clock = FakeClock()
    limited = limiter(clock)
    limited.close_gate(2.5, "HTTP 429")

    assert limited.wait_time() == pytest.approx(2.5 + CLOCK_MARGIN_SECONDS)
    assert isinstance(limited.try_acquire(0, 0), float)
    clock.now += 2.5 + CLOCK_MARGIN_SECONDS
    assert limited.wait_time() == 0.0


def test_gate_without_retry_after_uses_default() -> None:
    limited = limiter(FakeClock())
    limited.close_gate(None, "HTTP 429")

    assert limited.gate_remaining() > 0


def test_openai_spent_requests_wait_for_reset() -> None:
    clock = FakeClock()
    limited = limiter(clock)
    reservation = reserve(limited)
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1.5s",
    }

    limited.settle(reservation, Usage(), headers)

    assert limited.wait_time() == pytest.approx(1.5 + CLOCK_MARGIN_SECONDS)


def test_anthropic_spent_output_waits_for_reset() -> None:
    clock = FakeClock()
    limited = limiter(clock)
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(5000.0 + clock.now + 20))
    limited.observe_headers(
        {
            "anthropic-ratelimit-output-tokens-remaining": "0",
            "anthropic-ratelimit-output-tokens-reset": reset,
        }
    )

    assert limited.wait_time(input_tokens=10, output_tokens=10) == pytest.approx(20 + CLOCK_MARGIN_SECONDS, abs=1)
    assert limited.wait_time(input_tokens=10, output_tokens=0) == 0.0


def test_headers_count_other_requests_in_flight() -> None:
    clock = FakeClock()
    limited = limiter(clock)
    first = reserve(limited)
    reserve(limited)
    headers = {
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "30s",
    }

    limited.settle(first, Usage(), headers)

    assert limited.wait_time() > 0


def test_acquire_past_deadline_raises() -> None:
    clock = FakeClock()
    limited = limiter(clock, requests_per_minute=1)
    reserve(limited)

    with pytest.raises(DeadlineExceededError):
        limited.acquire(0, 0, deadline=clock.now + 1, sleep=lambda seconds: None)


def test_aacquire_waits_without_blocking_loop() -> None:
    limited = RateLimiter("real-clock")
    limited.close_gate(0.3, "test")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.02)

    async def main() -> Reservation:
        ticker = asyncio.create_task(tick())
        try:
            return await limited.aacquire(0, 0)
        finally:
            ticker.cancel()

    assert isinstance(asyncio.run(main()), Reservation)
    assert ticks >= 5


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("1.5s", 1.5), ("6m0s", 360.0), ("1h2m", 3720.0)],
)
def test_parse_duration_reads_openai_format(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5", "1s2x"])
def test_parse_duration_rejects_other_text(text: str) -> None:
    assert parse_duration(text) is None


def test_registry_shares_one_limiter_per_key() -> None:
    registry = RateLimiterRegistry()
    first = registry.get("openai:default:m", RateLimits(requests_per_minute=5))
    second = registry.get("openai:default:m")

    assert first is second
    assert second.limits.requests_per_minute == 5


def test_invalid_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimits(requests_per_minute=0)
