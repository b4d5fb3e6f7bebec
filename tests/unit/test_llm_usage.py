"""Structured-output repair, token accounting, cost and the response cache of LLMClient."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import BaseModel

from llm_kafka import (
    InMemoryResponseCache,
    ModelPrice,
    PriceTable,
    StructuredOutputError,
    Usage,
    UsageTracker,
    current_usage,
    track_usage,
)
from llm_kafka.testing.llm_server import LocalLLMServer
from tests.unit.llm_clients import make_client

PRICES = PriceTable({"local-model": ModelPrice(input_per_million=2.0, output_per_million=8.0)})


class Verdict(BaseModel):
    sentiment: str
    score: int


def server_tokens(server: LocalLLMServer) -> Usage:
    stats = server.stats().to_dict()
    return Usage(input_tokens=stats["input_tokens"], output_tokens=stats["output_tokens"])


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_structured_repair_recovers_from_malformed_output(server: LocalLLMServer, provider: str) -> None:
    server.configure(malformed_marker="BROKEN")
    client = make_client(server, provider, prices=PRICES)

    result = client.structured_response("BROKEN answer please", Verdict)

    assert isinstance(result.output, Verdict)
    assert result.repairs == 1
    assert server.stats().to_dict()["requests_total"] == 2
    assert result.response.usage == server_tokens(server)
    assert result.response.attempts == 2


def test_repair_sends_validation_errors_back(server: LocalLLMServer) -> None:
    server.configure(malformed_marker="BROKEN")

    make_client(server).structured("BROKEN answer please", Verdict)

    repair_prompt = server.stats().to_dict()["recent_prompts"][-1]
    assert "not valid JSON" in repair_prompt
    assert "Verdict" in repair_prompt


def test_structured_error_after_repairs_keeps_raw_output(
    server: LocalLLMServer,
) -> None:
    server.configure(malformed_rate=1.0)

    with pytest.raises(StructuredOutputError) as raised:
        make_client(server, repair_attempts=2).structured("answer please", Verdict)
    assert raised.value.raw_output
    assert raised.value.attempts == 3
    assert not raised.value.retryable
    assert server.stats().to_dict()["requests_total"] == 3


def test_no_repair_when_disabled(server: LocalLLMServer) -> None:
    server.configure(malformed_marker="BROKEN")

    with pytest.raises(StructuredOutputError):
        make_client(server, repair_attempts=0).structured("BROKEN answer please", Verdict)
    assert server.stats().to_dict()["requests_total"] == 1


def test_cost_follows_price_table(server: LocalLLMServer) -> None:
    response = make_client(server, prices=PRICES).complete("price this call")

    expected = (response.usage.input_tokens * 2.0 + response.usage.output_tokens * 8.0) / 1_000_000
    assert response.cost == pytest.approx(expected)
    assert response.cost > 0


def test_cost_is_none_without_price(server: LocalLLMServer) -> None:
    assert make_client(server).complete("no price").cost is None


def test_cached_input_tokens_have_own_price() -> None:
    price = ModelPrice(input_per_million=10.0, output_per_million=20.0, cached_input_per_million=1.0)

    cost = price.cost(Usage(input_tokens=1000, output_tokens=100, cached_input_tokens=400))

    assert cost == pytest.approx((600 * 10.0 + 400 * 1.0 + 100 * 20.0) / 1_000_000)


def test_provider_specific_price_wins() -> None:
    prices = PriceTable({"m": ModelPrice(1.0, 1.0)})
    prices.set_price("m", ModelPrice(5.0, 5.0), provider="anthropic")

    assert prices.price_for("anthropic", "m") == ModelPrice(5.0, 5.0)
    assert prices.price_for("openai", "m") == ModelPrice(1.0, 1.0)


def test_usage_is_summed_over_retries_and_truncation(server: LocalLLMServer) -> None:
    client = make_client(server, prices=PRICES)

    with track_usage() as tracker:
        client.complete("Summarise the order", max_tokens=8)
        client.complete("a second call")

    summary = tracker.summary()
    assert summary.usage == server_tokens(server)
    assert summary.calls == 3
    assert summary.cost is not None
    assert summary.cost_complete
    assert summary.to_metadata()["llm_calls"] == 3


def test_usage_tracker_follows_async_tasks_and_threads(server: LocalLLMServer) -> None:
    client = make_client(server)

    async def handle() -> None:
        await asyncio.gather(client.acomplete("one"), client.acomplete("two"))
        await asyncio.to_thread(client.complete, "three")

    tracker = UsageTracker()
    with tracker.activate():
        asyncio.run(handle())
        with ThreadPoolExecutor(1) as pool:
            pool.submit(contextvars.copy_context().run, client.complete, "four").result()
        assert current_usage() == tracker.summary()

    assert tracker.summary().calls == 4
    assert tracker.summary().usage == server_tokens(server)
    assert current_usage() is None


def test_unpriced_call_marks_cost_incomplete(server: LocalLLMServer) -> None:
    with track_usage() as tracker:
        make_client(server, prices=PRICES).complete("priced")
        make_client(server, model="unpriced").complete("unpriced")

    assert tracker.summary().cost is not None
    assert tracker.summary().cost_complete is False


def test_usage_counted_in_metrics(server: LocalLLMServer) -> None:
    counted = make_client(server, prices=PRICES)
    counted.complete("count my tokens")

    snapshot = counted.metrics.snapshot()
    assert snapshot.counter("llm.requests") == 1
    assert snapshot.counter("llm.input_tokens") > 0
    assert snapshot.counter("llm.output_tokens") > 0
    assert snapshot.counter("llm.cost") > 0


def test_cache_serves_repeated_request_without_call(server: LocalLLMServer) -> None:
    client = make_client(server, cache=InMemoryResponseCache())
    first = client.complete("same request")

    with track_usage() as tracker:
        second = client.complete("same request")

    assert second.text == first.text
    assert second.cached
    assert second.cost == 0.0
    assert server.stats().to_dict()["requests_total"] == 1
    assert tracker.summary().cached_calls == 1
    assert tracker.summary().usage == Usage()


def test_cache_keys_on_request_content(server: LocalLLMServer) -> None:
    client = make_client(server, cache=InMemoryResponseCache())
    client.complete("first")
    client.complete("first", system="different system prompt")

    assert server.stats().to_dict()["requests_total"] == 2


def test_cache_stores_only_validated_structured_output(server: LocalLLMServer) -> None:
    server.configure(malformed_marker="BROKEN")
    client = make_client(server, cache=InMemoryResponseCache())
    client.structured("BROKEN answer please", Verdict)

    again = client.structured_response("BROKEN answer please", Verdict)

    assert again.response.cached
    assert server.stats().to_dict()["requests_total"] == 2


def test_cache_off_by_default(server: LocalLLMServer) -> None:
    client = make_client(server)
    client.complete("same")
    client.complete("same")

    assert client.cache is None
    assert server.stats().to_dict()["requests_total"] == 2


def test_memory_cache_evicts_least_recently_used() -> None:
    cache = InMemoryResponseCache(max_entries=2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.get("a")
    cache.set("c", 3)

    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert len(cache) == 2


def test_memory_cache_expires_old_entries() -> None:
    now = [0.0]
    cache = InMemoryResponseCache(max_age_s=10, clock=lambda: now[0])
    cache.set("a", 1)
    now[0] = 10.5

    assert cache.get("a") is None
