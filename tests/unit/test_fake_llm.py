"""The fake LLM provider through LLMClient, and FakeClock driving retries and the breaker."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from llm_kafka import (
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    InvalidRequestError,
    LLMClient,
    ProviderOverloadedError,
    ProviderServerError,
    ProviderTimeoutError,
    RateLimitError,
    RetryPolicy,
    StructuredOutputError,
)
from llm_kafka.llm.registry import ProviderRegistry, default_registry
from llm_kafka.llm.types import LLMRequest
from llm_kafka.testing.clock import FakeClock
from llm_kafka.testing.fake_llm import (
    FakeLLM,
    Malformed,
    Overloaded,
    RateLimited,
    Reply,
    ScriptExhaustedError,
    ServerError,
    TimedOut,
    prompt_of,
    register_fake_provider,
)
from llm_kafka.testing.llm_server import expected_chat_answer

NO_RETRIES = RetryPolicy(max_attempts=1)


class Label(BaseModel):
    label: str
    score: int


def test_fake_provider_is_registered_by_entry_point() -> None:
    assert "fake" in default_registry().names()


def test_register_fake_provider_adds_it_once() -> None:
    registry = ProviderRegistry(load_entry_points=False)

    register_fake_provider(registry)
    register_fake_provider(registry)

    assert registry.names() == ["anthropic", "fake", "openai"]


def test_client_by_name_gives_default_answer() -> None:
    client = LLMClient(provider="fake", model="fake-model")

    response = client.complete("What is Kafka?")

    assert response.text == expected_chat_answer("What is Kafka?")
    assert response.provider == "fake"
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens > 0


def test_default_structured_answer_fits_schema() -> None:
    label = FakeLLM().client().structured("Rate this", Label)

    assert isinstance(label, Label)


def test_scripted_steps_answer_in_order() -> None:
    fake = FakeLLM(["first", {"label": "positive", "score": 5}])
    client = fake.client()

    assert client.complete("one").text == "first"
    assert client.structured("two", Label) == Label(label="positive", score=5)
    assert fake.prompts() == ["one", "two"]
    assert fake.requests[1].json_schema is not None


def test_exhausted_script_raises_with_call_number() -> None:
    client = FakeLLM(["only"]).client()
    client.complete("one")

    with pytest.raises(ScriptExhaustedError, match="call 2"):
        client.complete("two")


def test_then_answers_after_the_list() -> None:
    client = FakeLLM(["first"], then=lambda request: f"echo {prompt_of(request)}").client()

    assert client.complete("a").text == "first"
    assert client.complete("b").text == "echo b"


def test_responder_function_picks_by_prompt() -> None:
    def respond(request: LLMRequest) -> object:
        return ServerError(400, "bad prompt") if "bad" in prompt_of(request) else "fine"

    client = FakeLLM(respond).client(retry_policy=NO_RETRIES)  # type: ignore[arg-type]

    assert client.complete("good").text == "fine"
    with pytest.raises(InvalidRequestError):
        client.complete("bad")


def test_set_responses_replaces_script() -> None:
    fake = FakeLLM(["old"])
    fake.set_responses(["new"])

    assert fake.client().complete("x").text == "new"


def test_rate_limit_carries_retry_after() -> None:
    client = FakeLLM([RateLimited(retry_after=2.5)]).client(retry_policy=NO_RETRIES)

    with pytest.raises(RateLimitError) as raised:
        client.complete("x")

    assert raised.value.retry_after == 2.5
    assert raised.value.status_code == 429
    assert raised.value.retryable is True


def test_rate_limit_is_retried_until_success() -> None:
    fake = FakeLLM([RateLimited(retry_after=0.01), RateLimited(retry_after=0.01), "ok"])
    client = fake.client(retry_policy=RetryPolicy(max_attempts=3, base_delay=0.0))

    response = client.complete("x")

    assert response.text == "ok"
    assert response.attempts == 3
    assert fake.calls == 3


def test_overloaded_raises_529() -> None:
    client = FakeLLM([Overloaded()]).client(retry_policy=NO_RETRIES)

    with pytest.raises(ProviderOverloadedError) as raised:
        client.complete("x")

    assert raised.value.status_code == 529
    assert raised.value.retryable is True


def test_server_error_is_retryable_type() -> None:
    client = FakeLLM([ServerError(503)]).client(retry_policy=NO_RETRIES)

    with pytest.raises(ProviderServerError) as raised:
        client.complete("x")

    assert raised.value.status_code == 503


def test_timeout_waits_on_fake_clock() -> None:
    clock = FakeClock()
    client = FakeLLM([TimedOut(after_s=30)], clock=clock).client(retry_policy=NO_RETRIES)
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError):
        client.complete("x")

    assert clock.monotonic() == 30
    assert time.monotonic() - started < 1.0


def test_malformed_output_raises_structured_error() -> None:
    client = FakeLLM([Malformed('{"label": ')] * 2).client()  # the answer and the one repair attempt

    with pytest.raises(StructuredOutputError) as raised:
        client.structured("x", Label)

    assert raised.value.raw_output == '{"label": '


def test_custom_exception_step_is_raised() -> None:
    client = FakeLLM([ConnectionResetError("reset")]).client(retry_policy=NO_RETRIES)

    with pytest.raises(ConnectionResetError):
        client.complete("x")


def test_reply_latency_and_usage_async() -> None:
    clock = FakeClock()
    fake = FakeLLM([Reply("slow", latency_s=5.0, input_tokens=7, output_tokens=3)], clock=clock)

    response = asyncio.run(fake.client().acomplete("x"))

    assert response.text == "slow"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (7, 3)
    assert clock.sleeps == [5.0]


def test_provider_rejects_foreign_script() -> None:
    with pytest.raises(TypeError, match="must be a FakeLLM"):
        LLMClient("fake", "m", provider_options={"script": ["not", "a", "FakeLLM"]})


def test_breaker_opens_and_recovers_on_fake_clock() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("fake", failure_threshold=2, recovery_timeout=30, clock=clock)
    fake = FakeLLM([ServerError(500), ServerError(500), "recovered"], clock=clock)
    client = fake.client(retry_policy=NO_RETRIES, circuit_breaker=breaker)

    for _ in range(2):
        with pytest.raises(ProviderServerError):
            client.complete("x")
    with pytest.raises(CircuitOpenError) as raised:
        client.complete("x")
    assert raised.value.retry_after == 30
    assert fake.calls == 2

    clock.advance(30)

    assert client.complete("x").text == "recovered"
    assert breaker.state is CircuitState.CLOSED


def test_retry_waits_on_fake_clock() -> None:
    clock = FakeClock()
    fake = FakeLLM([RateLimited(retry_after=20), RateLimited(retry_after=40), "ok"], clock=clock)
    client = fake.client(retry_policy=RetryPolicy(max_attempts=3, base_delay=0.0, max_retry_after=60), clock=clock)

    response = client.complete("x")

    assert response.text == "ok"
    assert clock.slept >= 60  # the two retry-after waits, on the fake clock
    assert clock.monotonic() >= 60


def test_fake_clock_rejects_going_back() -> None:
    clock = FakeClock(start=10)

    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)
    assert clock() == 10


def test_fake_clock_asleep_yields_to_other_tasks() -> None:
    clock = FakeClock()
    order: list[str] = []

    async def sleeper() -> None:
        await clock.asleep(100)
        order.append("sleeper")

    async def other() -> None:
        order.append("other")

    async def main() -> None:
        await asyncio.gather(sleeper(), other())

    asyncio.run(main())

    assert order == ["other", "sleeper"]
    assert clock.slept == 100
