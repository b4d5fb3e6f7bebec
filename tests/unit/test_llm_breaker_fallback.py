"""The circuit breaker and fallbacks of LLMClient with concurrent workers and the local server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from llm_kafka import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    LLMProviderError,
    ProviderServerError,
    RetryPolicy,
    is_provider_wide,
)
from llm_kafka.testing.llm_server import LocalLLMServer, expected_chat_answer
from tests.unit.llm_clients import make_client

ONE_ATTEMPT = RetryPolicy(max_attempts=1)


def run_workers(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive(), "a worker did not finish within 20 s"


def test_breaker_opens_and_stops_requests(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})
    breaker = CircuitBreaker("local", failure_threshold=2, recovery_timeout=60)
    guarded = make_client(server, retry_policy=ONE_ATTEMPT, circuit_breaker=breaker)
    for _ in range(2):
        with pytest.raises(ProviderServerError):
            guarded.complete("LLMFAIL500")

    with pytest.raises(CircuitOpenError) as raised:
        guarded.complete("a healthy prompt")
    assert is_provider_wide(raised.value)
    assert server.stats().to_dict()["requests_total"] == 2
    assert guarded.wait_time() > 50


def test_breaker_transitions_with_concurrent_workers(server: LocalLLMServer) -> None:
    server.configure(error_rate=1.0, error_statuses=(503,), latency=0.05)
    breaker = CircuitBreaker("workers", failure_threshold=3, recovery_timeout=1.0)
    client = make_client(server, retry_policy=ONE_ATTEMPT, circuit_breaker=breaker)
    transitions: list[tuple[CircuitState, CircuitState]] = []
    client.add_state_listener(lambda _, old, new: transitions.append((old, new)))
    outcomes: list[str] = []
    lock = threading.Lock()

    def call(index: int) -> None:
        try:
            client.complete(f"worker {index}")
            outcome = "ok"
        except LLMProviderError as error:
            outcome = type(error).__name__
        with lock:
            outcomes.append(outcome)

    run_workers(8, call)
    assert transitions == [(CircuitState.CLOSED, CircuitState.OPEN)]
    assert set(outcomes) <= {"ProviderServerError", "CircuitOpenError"}
    sent_while_failing = server.stats().to_dict()["requests_total"]
    assert sent_while_failing <= 8

    # The probe takes a second, so every other worker arrives while it is in flight.
    server.configure(error_rate=0.0, latency=1.0)
    server.reset_stats()
    time.sleep(1.1)
    outcomes.clear()
    run_workers(8, call)

    assert server.stats().to_dict()["requests_total"] == 1
    assert outcomes.count("ok") == 1
    assert outcomes.count("CircuitOpenError") == 7
    assert transitions == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]
    assert client.metrics.snapshot().counter("llm.circuit_breaker.transitions") == 3


def test_failed_probe_reopens_breaker(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})
    breaker = CircuitBreaker("probe", failure_threshold=1, recovery_timeout=0.2)
    client = make_client(server, retry_policy=ONE_ATTEMPT, circuit_breaker=breaker)
    with pytest.raises(ProviderServerError):
        client.complete("LLMFAIL500")
    time.sleep(0.25)

    with pytest.raises(ProviderServerError):
        client.complete("LLMFAIL500 probe")

    assert breaker.state is CircuitState.OPEN
    assert client.wait_time() > 0.1


def test_authentication_failure_opens_breaker_at_once(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL401": 401})
    client = make_client(server)

    with pytest.raises(LLMProviderError):
        client.complete("LLMFAIL401")

    assert client.circuit_breaker.state is CircuitState.OPEN


def test_fallback_serves_when_primary_fails(server: LocalLLMServer) -> None:
    server.configure(overloaded_rate=1.0)
    fallback = make_client(server, "openai", model="fallback-model")
    primary = make_client(server, "anthropic", fallbacks=[fallback])

    response = primary.complete("route me")

    assert response.provider == "openai"
    assert response.model == "fallback-model"
    assert response.text == expected_chat_answer("route me")
    assert response.attempts == 4
    assert primary.metrics.snapshot().counter("llm.fallbacks") == 1


def test_open_breaker_sends_calls_to_fallback(server: LocalLLMServer) -> None:
    breaker = CircuitBreaker("primary", failure_threshold=1, recovery_timeout=60)
    breaker.force_open("test")
    fallback = make_client(server, model="fallback-model")
    primary = make_client(server, circuit_breaker=breaker, fallbacks=[fallback])

    assert primary.wait_time() == 0.0
    assert primary.complete("hello").model == "fallback-model"
    assert server.stats().to_dict()["requests_total"] == 1


def test_caller_error_does_not_fall_back(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL400": 400})
    fallback = make_client(server, model="fallback-model")
    primary = make_client(server, fallbacks=[fallback])

    with pytest.raises(LLMProviderError):
        primary.complete("LLMFAIL400")

    assert server.stats().to_dict()["requests_total"] == 1


def test_async_workers_send_one_probe(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})
    breaker = CircuitBreaker("async-workers", failure_threshold=1, recovery_timeout=0.2)
    client = make_client(server, retry_policy=ONE_ATTEMPT, circuit_breaker=breaker)
    with pytest.raises(ProviderServerError):
        client.complete("LLMFAIL500")
    server.configure(latency=0.2)
    server.reset_stats()
    time.sleep(0.25)

    async def call(index: int) -> str:
        try:
            await client.acomplete(f"async worker {index}")
        except CircuitOpenError:
            return "open"
        return "ok"

    async def main() -> list[str]:
        return await asyncio.gather(*(call(index) for index in range(8)))

    outcomes = asyncio.run(main())

    assert sorted(outcomes) == ["ok"] + ["open"] * 7
    assert server.stats().to_dict()["requests_total"] == 1
    assert breaker.state is CircuitState.CLOSED
