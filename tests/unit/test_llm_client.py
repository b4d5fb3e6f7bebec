"""LLMClient through the official SDKs against the local LLM server: answers, errors, retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from llm_kafka import (
    AuthenticationError,
    CircuitBreaker,
    CircuitOpenError,
    InvalidRequestError,
    LLMClient,
    ProviderOverloadedError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitError,
    RetryPolicy,
    StructuredOutputError,
)
from llm_kafka.testing.llm_server import (
    FaultSettings,
    LocalLLMServer,
    expected_chat_answer,
)

FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


class Verdict(BaseModel):
    sentiment: str
    score: int


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as running:
        yield running


@pytest.fixture(autouse=True)
def clean_server(server: LocalLLMServer) -> None:
    server.replace_settings(FaultSettings())
    server.reset()


def client(server: LocalLLMServer, provider: str = "openai", **options: object) -> LLMClient:
    base_url = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    options.setdefault("retry_policy", FAST_RETRIES)
    return LLMClient(provider, "local-model", api_key="local", base_url=base_url, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_complete_returns_server_answer(server: LocalLLMServer, provider: str) -> None:
    response = client(server, provider).complete("What is Kafka?")

    assert response.text == expected_chat_answer("What is Kafka?")
    assert response.provider == provider
    assert response.usage.input_tokens > 0
    assert response.attempts == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_structured_validates_model(server: LocalLLMServer, provider: str) -> None:
    verdict = asyncio.run(client(server, provider).astructured("Rate this", Verdict))

    assert isinstance(verdict, Verdict)


def test_malformed_structured_output_raises_with_raw_text(server: LocalLLMServer) -> None:
    server.configure(malformed_marker="BROKEN")

    with pytest.raises(StructuredOutputError) as raised:
        client(server).structured("BROKEN answer please", Verdict)
    assert raised.value.raw_output
    assert server.stats().to_dict()["requests_total"] == 1


def test_server_error_is_retried_until_success(server: LocalLLMServer) -> None:
    server.configure(fail_first_n=2, fail_first_status=503)

    response = client(server).complete("hello")

    assert response.attempts == 3


def test_server_error_gives_up_after_max_attempts(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})

    with pytest.raises(ProviderServerError) as raised:
        client(server).complete("LLMFAIL500 please")
    assert raised.value.attempts == 3
    assert raised.value.status_code == 500


def test_rate_limit_carries_retry_after(server: LocalLLMServer) -> None:
    server.configure(requests_per_minute=1, window_seconds=60)
    no_retry = client(server, retry_policy=RetryPolicy(max_attempts=1))
    no_retry.complete("first")

    with pytest.raises(RateLimitError) as raised:
        no_retry.complete("second")
    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 0


def test_retry_after_is_honoured(server: LocalLLMServer) -> None:
    server.configure(requests_per_minute=1, window_seconds=1)
    patient = client(server, retry_policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_retry_after=5))
    patient.complete("first")

    response = patient.complete("second")

    assert response.attempts == 2


def test_anthropic_overloaded_is_retryable_type(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL529": 529})

    with pytest.raises(ProviderOverloadedError) as raised:
        client(server, "anthropic").complete("LLMFAIL529")
    assert raised.value.attempts == 3


@pytest.mark.parametrize(("status", "error_type"), [(400, InvalidRequestError), (401, AuthenticationError)])
def test_client_errors_are_not_retried(server: LocalLLMServer, status: int, error_type: type[Exception]) -> None:
    server.configure(fail_marker={"LLMFAILX": status})

    with pytest.raises(error_type) as raised:
        client(server).complete("LLMFAILX")
    assert raised.value.attempts == 1  # type: ignore[attr-defined]
    assert server.stats().to_dict()["requests_total"] == 1


def test_hang_becomes_timeout_error(server: LocalLLMServer) -> None:
    server.configure(hang_marker="LLMHANG", hang_seconds=5)

    with pytest.raises(ProviderTimeoutError):
        client(server, timeout=0.3, retry_policy=RetryPolicy(max_attempts=1)).complete("LLMHANG")


def test_breaker_opens_and_stops_requests(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})
    breaker = CircuitBreaker("local", failure_threshold=2, recovery_timeout=60)
    guarded = client(server, retry_policy=RetryPolicy(max_attempts=1), circuit_breaker=breaker)
    for _ in range(2):
        with pytest.raises(ProviderServerError):
            guarded.complete("LLMFAIL500")

    with pytest.raises(CircuitOpenError):
        guarded.complete("a healthy prompt")
    assert server.stats().to_dict()["requests_total"] == 2


def test_usage_is_counted_in_metrics(server: LocalLLMServer) -> None:
    counted = client(server)
    counted.complete("count my tokens")

    snapshot = counted.metrics.snapshot()
    assert snapshot.counter("llm.requests") == 1
    assert snapshot.counter("llm.input_tokens") > 0
    assert snapshot.counter("llm.output_tokens") > 0
