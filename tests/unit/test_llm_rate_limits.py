"""Rate limits through the SDKs against the local LLM server: the 429 gate, retry-after, headers."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from llm_kafka import (
    RateLimiter,
    RateLimitError,
    RateLimits,
    RetryPolicy,
    is_provider_wide,
)
from llm_kafka.testing.llm_server import LocalLLMServer
from tests.unit.llm_clients import make_client


def statuses(server: LocalLLMServer) -> dict[str, int]:
    """Return the server's responses by status once its counters have caught up.

    The server counts a response just after sending it, so the client can return first. This
    waits up to a second for the count to match the requests.
    """
    for _ in range(100):
        stats = server.stats().to_dict()
        by_status = dict(stats["responses_by_status"])
        if sum(by_status.values()) >= stats["requests_total"]:
            return by_status
        time.sleep(0.01)
    return by_status


def test_rate_limit_error_carries_retry_after(server: LocalLLMServer) -> None:
    server.configure(requests_per_minute=1, window_seconds=60)
    make_client(server).complete("another process uses the budget")
    no_retry = make_client(server, retry_policy=RetryPolicy(max_attempts=1))

    with pytest.raises(RateLimitError) as raised:
        no_retry.complete("second")
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 0


def test_retry_after_is_honoured(server: LocalLLMServer) -> None:
    server.configure(requests_per_minute=1, window_seconds=1)
    make_client(server).complete("another process uses the budget")
    patient = make_client(
        server,
        retry_policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_retry_after=5),
    )
    started = time.monotonic()

    response = patient.complete("second")

    assert response.attempts == 2
    assert time.monotonic() - started >= 0.5
    assert statuses(server) == {"200": 2, "429": 1}


def test_long_retry_after_is_provider_wide_pause(server: LocalLLMServer) -> None:
    server.configure(requests_per_minute=1, window_seconds=60)
    make_client(server).complete("another process uses the budget")
    client = make_client(server, retry_policy=RetryPolicy(max_attempts=3, max_retry_after=5))

    with pytest.raises(RateLimitError) as raised:
        client.complete("second")
    assert is_provider_wide(raised.value)
    assert raised.value.attempts == 1
    assert client.wait_time() > 5


def test_429_gate_stops_shared_clients(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLM429": 429})
    shared = RateLimiter("shared")
    first = make_client(server, rate_limiter=shared, retry_policy=RetryPolicy(max_attempts=1))
    second = make_client(server, rate_limiter=shared)

    with pytest.raises(RateLimitError):
        first.complete("LLM429")
    assert 0.5 < second.wait_time() <= 1.1
    started = time.monotonic()
    second.complete("a healthy prompt")

    assert time.monotonic() - started >= 0.8
    assert statuses(server) == {"429": 1, "200": 1}


def test_clients_of_same_model_share_default_limiter(server: LocalLLMServer) -> None:
    limits = RateLimits(requests_per_minute=1000)
    first = make_client(server, model="shared-model", rate_limiter=None, rate_limits=limits)
    second = make_client(server, model="shared-model", rate_limiter=None)

    assert first.rate_limiter is second.rate_limiter
    assert second.rate_limiter.limits.requests_per_minute == 1000


def test_gate_holds_concurrent_workers(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLM429": 429})
    shared = RateLimiter("shared-workers")
    clients = [make_client(server, rate_limiter=shared) for _ in range(4)]
    with pytest.raises(RateLimitError):
        make_client(server, rate_limiter=shared, retry_policy=RetryPolicy(max_attempts=1)).complete("LLM429")
    gate_closed_at = time.monotonic()
    started: list[float] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        clients[index].complete(f"worker {index}")
        with lock:
            started.append(time.monotonic())

    threads = [threading.Thread(target=work, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(started) == 4
    assert min(started) - gate_closed_at >= 0.8
    assert statuses(server) == {"429": 1, "200": 4}


def test_client_budget_prevents_429(server: LocalLLMServer) -> None:
    server.configure(requests_per_minute=3, window_seconds=1)
    client = make_client(
        server,
        rate_limits=None,
        rate_limiter=RateLimiter("rpm", RateLimits(3, window_s=1)),
    )
    started = time.monotonic()

    for index in range(6):
        client.complete(f"message {index}")

    assert time.monotonic() - started >= 0.9
    assert statuses(server) == {"200": 6}


def test_headers_make_wait_time_positive_before_429(server: LocalLLMServer) -> None:
    server.configure(requests_per_minute=2, window_seconds=60)
    client = make_client(server)
    client.complete("one")
    assert client.wait_time() == 0.0

    client.complete("two")

    assert client.wait_time() > 50
    assert statuses(server) == {"200": 2}


def test_async_wait_for_gate_does_not_block_loop(server: LocalLLMServer) -> None:
    client = make_client(server)
    client.rate_limiter.close_gate(0.4, "test")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.02)

    async def main() -> str:
        ticker = asyncio.create_task(tick())
        try:
            return (await client.acomplete("hello")).text
        finally:
            ticker.cancel()

    assert asyncio.run(main())
    assert ticks >= 10


def test_long_limiter_wait_raises_without_request(server: LocalLLMServer) -> None:
    client = make_client(server, retry_policy=RetryPolicy(max_retry_after=5))
    client.rate_limiter.close_gate(120, "test")
    started = time.monotonic()

    with pytest.raises(RateLimitError) as raised:
        client.complete("hello")

    assert is_provider_wide(raised.value)
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 100
    assert time.monotonic() - started < 1.0
    assert server.stats().to_dict()["requests_total"] == 0
