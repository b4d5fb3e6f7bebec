"""LLMClient through the official SDKs against the local LLM server: answers, errors, retries."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import anthropic
import openai
import pytest
from pydantic import BaseModel

from llm_kafka import (
    AuthenticationError,
    ConfigurationError,
    ContentFilterError,
    ContextLengthExceededError,
    DeadlineExceededError,
    InvalidRequestError,
    LLMClient,
    LLMProviderError,
    ModelNotFoundError,
    OutputTruncatedError,
    ProviderConnectionError,
    ProviderOverloadedError,
    ProviderServerError,
    ProviderTimeoutError,
    QuotaExhaustedError,
    RateLimiter,
    RateLimitError,
    RetryPolicy,
    deadline_after,
    is_provider_wide,
)
from llm_kafka.llm.providers.sdk_common import error_for_status, error_from_sdk
from llm_kafka.testing.llm_server import (
    LocalLLMServer,
    embedding_vector,
    expected_chat_answer,
)
from tests.unit.llm_clients import make_client


class Verdict(BaseModel):
    sentiment: str
    score: int


def requests_sent(server: LocalLLMServer) -> int:
    return int(server.stats().to_dict()["requests_total"])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_complete_returns_server_answer(server: LocalLLMServer, provider: str) -> None:
    response = make_client(server, provider).complete("What is Kafka?")

    assert response.text == expected_chat_answer("What is Kafka?")
    assert response.provider == provider
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0
    assert response.attempts == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_acomplete_returns_server_answer(server: LocalLLMServer, provider: str) -> None:
    response = asyncio.run(make_client(server, provider).acomplete("What is Kafka?", system="Be brief"))

    assert response.text == expected_chat_answer("What is Kafka?")


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_structured_validates_model(server: LocalLLMServer, provider: str) -> None:
    verdict = asyncio.run(make_client(server, provider).astructured("Rate this", Verdict))

    assert isinstance(verdict, Verdict)


def test_server_error_is_retried_until_success(server: LocalLLMServer) -> None:
    server.configure(fail_first_n=2, fail_first_status=503)

    response = make_client(server).complete("hello")

    assert response.attempts == 3


def test_server_error_gives_up_after_max_attempts(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})

    with pytest.raises(ProviderServerError) as raised:
        make_client(server).complete("LLMFAIL500 please")
    assert raised.value.attempts == 3
    assert raised.value.status_code == 500


@pytest.mark.parametrize("status", [408, 409, 502])
def test_retryable_statuses_are_retried(server: LocalLLMServer, status: int) -> None:
    server.configure(fail_first_n=1, fail_first_status=status)

    assert make_client(server).complete("hello").attempts == 2


def test_anthropic_overloaded_is_retried(server: LocalLLMServer) -> None:
    server.configure(fail_marker={"LLMFAIL529": 529})

    with pytest.raises(ProviderOverloadedError) as raised:
        make_client(server, "anthropic").complete("LLMFAIL529")
    assert raised.value.attempts == 3
    assert raised.value.retryable


def test_stream_overloaded_event_is_typed(server: LocalLLMServer) -> None:
    server.configure(stream_overloaded_marker="LLMSTREAM529")
    sdk = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="local", max_retries=0)

    messages = [{"role": "user", "content": "LLMSTREAM529"}]

    with (
        pytest.raises(anthropic.APIStatusError) as raised,
        sdk.messages.stream(model="local-model", max_tokens=64, messages=messages) as stream,  # type: ignore[arg-type]
    ):
        for _ in stream:
            pass
    error = error_from_sdk(raised.value, anthropic, provider="anthropic", model="local-model")

    assert raised.value.status_code == 200
    assert isinstance(error, ProviderOverloadedError)
    assert error.retryable


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("status", "error_type", "provider_wide"),
    [
        (400, InvalidRequestError, False),
        (401, AuthenticationError, True),
        (403, AuthenticationError, True),
        (404, ModelNotFoundError, True),
    ],
)
def test_client_errors_are_not_retried(
    server: LocalLLMServer,
    provider: str,
    status: int,
    error_type: type[LLMProviderError],
    provider_wide: bool,
) -> None:
    server.configure(fail_marker={"LLMFAILX": status})

    with pytest.raises(error_type) as raised:
        make_client(server, provider).complete("LLMFAILX")
    assert raised.value.attempts == 1
    assert raised.value.retryable is False
    assert is_provider_wide(raised.value) is provider_wide
    assert requests_sent(server) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_context_length_error_is_typed(server: LocalLLMServer, provider: str) -> None:
    server.configure(context_window=50)

    with pytest.raises(ContextLengthExceededError) as raised:
        make_client(server, provider).complete("word " * 400, max_tokens=10)
    assert not raised.value.retryable
    assert not is_provider_wide(raised.value)
    assert requests_sent(server) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_exhausted_quota_is_provider_wide(server: LocalLLMServer, provider: str) -> None:
    server.configure(quota_exhausted=True)
    client = make_client(server, provider)

    with pytest.raises(QuotaExhaustedError) as raised:
        client.complete("hello")
    assert is_provider_wide(raised.value)
    assert requests_sent(server) == 1
    assert client.wait_time() > 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_refusal_raises_content_filter_error(server: LocalLLMServer, provider: str) -> None:
    server.configure(refusal_marker="LLMREFUSE")

    with pytest.raises(ContentFilterError) as raised:
        make_client(server, provider).complete("LLMREFUSE this")
    assert "can't help" in raised.value.raw_output
    assert not raised.value.retryable
    assert requests_sent(server) == 1


def test_hang_becomes_timeout_error(server: LocalLLMServer) -> None:
    server.configure(hang_marker="LLMHANG", hang_seconds=5)

    with pytest.raises(ProviderTimeoutError):
        make_client(server, timeout=0.3, retry_policy=RetryPolicy(max_attempts=1)).complete("LLMHANG")


def test_deadline_bounds_attempts_and_backoff(server: LocalLLMServer) -> None:
    server.configure(hang_marker="LLMHANG", hang_seconds=5)
    patient = make_client(
        server,
        timeout=30,
        retry_policy=RetryPolicy(max_attempts=5, base_delay=1, max_delay=1),
    )
    started = time.monotonic()

    with (
        deadline_after(0.5),
        pytest.raises((DeadlineExceededError, ProviderTimeoutError)),
    ):
        patient.complete("LLMHANG")
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_truncated_output_is_retried_with_larger_limit(server: LocalLLMServer, provider: str) -> None:
    prompt = "Summarise the order"

    response = make_client(server, provider).complete(prompt, max_tokens=8)

    assert response.text == expected_chat_answer(prompt)
    assert response.attempts == 2
    assert response.usage.output_tokens == server.stats().to_dict()["output_tokens"]


def test_output_truncated_twice_raises(server: LocalLLMServer) -> None:
    with pytest.raises(OutputTruncatedError) as raised:
        make_client(server).complete("Summarise the order", max_tokens=2)
    assert raised.value.raw_output
    assert raised.value.attempts == 2
    assert requests_sent(server) == 2


def test_allow_truncated_returns_cut_output(server: LocalLLMServer) -> None:
    response = make_client(server).complete("Summarise the order", max_tokens=2, allow_truncated=True)

    assert response.finish_reason == "length"
    assert requests_sent(server) == 1


def test_each_retry_is_logged_once_and_counted(server: LocalLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    server.configure(fail_first_n=2, fail_first_status=500)
    client = make_client(server)

    with caplog.at_level(logging.DEBUG, logger="llm_kafka.llm.client"):
        client.complete("hello")

    retry_lines = [record for record in caplog.records if record.getMessage().startswith("retrying")]
    assert len(retry_lines) == 2
    assert "ProviderServerError" in retry_lines[0].getMessage()
    assert client.metrics.snapshot().counter("llm.retries") == 2


def test_sdk_client_with_retries_gets_warning(server: LocalLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    sdk = openai.OpenAI(base_url=server.openai_base_url, api_key="local", max_retries=2)

    with caplog.at_level(logging.WARNING):
        client = make_client(server, provider_options={"client": sdk})

    assert "max_retries=2" in caplog.text
    assert client.complete("hello").text == expected_chat_answer("hello")


def test_embed_returns_server_vectors(server: LocalLLMServer) -> None:
    response = make_client(server).embed(["first text", "second text"], dimensions=16)

    assert len(response.vectors) == 2
    for text, vector in zip(["first text", "second text"], response.vectors, strict=True):
        assert vector == pytest.approx(embedding_vector(text, 16), abs=1e-6)
    assert response.usage.input_tokens > 0


def test_aembed_returns_server_vectors(server: LocalLLMServer) -> None:
    response = asyncio.run(make_client(server).aembed("one text"))

    assert response.vectors[0] == pytest.approx(embedding_vector("one text"), abs=1e-6)


def test_embed_on_anthropic_is_configuration_error(server: LocalLLMServer) -> None:
    with pytest.raises(ConfigurationError, match="does not serve embeddings"):
        make_client(server, "anthropic").embed("text")


def test_unreachable_server_is_connection_error_retried() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = LLMClient(
        "openai",
        "local-model",
        api_key="local",
        base_url=f"http://127.0.0.1:{port}/v1",
        retry_policy=RetryPolicy(max_attempts=2, base_delay=0.01),
        rate_limiter=RateLimiter("closed-port"),
    )

    with pytest.raises(ProviderConnectionError) as raised:
        client.complete("hello")
    assert raised.value.attempts == 2
    assert raised.value.retryable


@pytest.mark.parametrize(
    ("status", "body_type", "body_code", "message", "expected"),
    [
        (
            400,
            "invalid_request_error",
            "content_policy_violation",
            "rejected",
            ContentFilterError,
        ),
        (
            400,
            "invalid_request_error",
            None,
            "prompt is too long: 300000 tokens > 200000 maximum",
            ContextLengthExceededError,
        ),
        (402, "billing_error", None, "payment required", QuotaExhaustedError),
        (
            429,
            "rate_limit_error",
            "enforced_spend_limit_reached",
            "spend limit",
            QuotaExhaustedError,
        ),
        (429, "rate_limit_error", None, "slow down", RateLimitError),
        (413, "request_too_large", None, "request too large", InvalidRequestError),
        (200, "overloaded_error", None, "Overloaded", ProviderOverloadedError),
        (200, "api_error", None, "Internal error", ProviderServerError),
        (503, None, None, "unavailable", ProviderServerError),
    ],
)
def test_error_classification_uses_status_and_body(
    status: int,
    body_type: str | None,
    body_code: str | None,
    message: str,
    expected: type[LLMProviderError],
) -> None:
    error = error_for_status(
        status,
        message,
        headers={"retry-after": "2"},
        provider="p",
        model="m",
        error_type=body_type,
        error_code=body_code,
    )

    assert type(error) is expected
    assert error.retry_after == 2.0
    assert error.headers == {"retry-after": "2"}
