"""Builds LLMClient instances aimed at the local LLM server, each with its own limiter."""

from __future__ import annotations

from typing import Any

from llm_kafka import LLMClient, RateLimiter, RetryPolicy
from llm_kafka.testing.llm_server import LocalLLMServer

FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


def make_client(server: LocalLLMServer, provider: str = "openai", **options: Any) -> LLMClient:
    """Return a client of ``provider`` on ``server`` with fast retries and a private rate limiter.

    A private limiter keeps one test's rate-limit state (and the server's headers it learned)
    out of the next test.
    """
    base_url = server.openai_base_url if provider == "openai" else server.anthropic_base_url
    options.setdefault("retry_policy", FAST_RETRIES)
    options.setdefault("rate_limiter", RateLimiter(f"test:{provider}"))
    options.setdefault("model", "local-model")
    return LLMClient(provider, api_key="local", base_url=base_url, **options)
