"""One route to a model: a provider, a model, its circuit breaker and its rate limiter.

``Route.attempt`` makes exactly one provider call. Before it, the attempt waits for the rate
limiter, acquires a breaker permit and bounds the call's timeout by the deadline. After it,
the attempt settles the reservation, reports the result to the breaker, and records usage,
cost, span and metrics.
Retries, truncation and fallbacks are the caller's decisions (``LLMClient``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from llm_kafka.errors import (
    CircuitOpenError,
    ConfigurationError,
    DeadlineExceededError,
    LLMProviderError,
    RateLimitError,
)
from llm_kafka.llm.cost import PriceTable
from llm_kafka.llm.providers.base import EmbeddingProvider, Provider
from llm_kafka.llm.rate_limit import RateLimiter, Reservation
from llm_kafka.llm.types import (
    EmbeddingRequest,
    EmbeddingResponse,
    LLMRequest,
    LLMResponse,
    Usage,
)
from llm_kafka.llm.usage import current_tracker
from llm_kafka.observability import genai
from llm_kafka.observability.llm_telemetry import AttemptRecord, LLMTelemetry
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.resilience.circuit_breaker import CircuitBreaker, Permit

ResponseT = TypeVar("ResponseT", LLMResponse, EmbeddingResponse)
RequestT = TypeVar("RequestT", LLMRequest, EmbeddingRequest)

CHARS_PER_TOKEN = 4
"""Characters per token of the prompt estimate, a rough rule for English text.

NOTE: other languages and code use more tokens per character, so budgets set close to a
provider's real limit may still meet an occasional 429."""
TOKENS_PER_MESSAGE = 4
"""Tokens added per message for role markers and separators in the prompt estimate."""


def estimate_input_tokens(request: LLMRequest | EmbeddingRequest) -> int:
    """Return a rough count of the request's input tokens, for rate-limit reservations."""
    if isinstance(request, EmbeddingRequest):
        return sum(math.ceil(len(text) / CHARS_PER_TOKEN) for text in request.inputs)
    texts = [message.content for message in request.messages]
    if request.system:
        texts.append(request.system)
    if request.json_schema is not None:
        # Providers count the schema (or the forced tool's definition) as input too.
        texts.append(json.dumps(request.json_schema))
    return sum(math.ceil(len(text) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for text in texts)


class Route:
    """The provider, model, breaker and limiter that one ``LLMClient`` calls."""

    def __init__(
        self,
        *,
        provider: Provider,
        provider_name: str,
        model: str,
        timeout: float,
        max_wait: float,
        breaker: CircuitBreaker,
        limiter: RateLimiter,
        prices: PriceTable,
        telemetry: LLMTelemetry,
        metrics: MetricsCollector,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> None:
        self.provider = provider
        self.provider_name = provider_name
        self.model = model
        self.timeout = timeout
        self.max_wait = max_wait
        self.breaker = breaker
        self.limiter = limiter
        self.prices = prices
        self.telemetry = telemetry
        self.metrics = metrics
        self.server_address = server_address
        self.server_port = server_port

    def __repr__(self) -> str:
        return f"Route({self.provider_name}:{self.model})"

    def wait_time(self, input_tokens: int, output_tokens: int) -> float:
        """Return seconds until this route could start a call of that size, 0.0 if now."""
        return max(
            self.breaker.time_until_call(),
            self.limiter.wait_time(input_tokens, output_tokens),
        )

    def attempt(self, request: LLMRequest, deadline: float | None) -> LLMResponse:
        """Make one chat call; raise ``LLMProviderError`` subclasses on failure."""
        return self._run(
            request,
            deadline,
            self.provider.complete,
            self._chat_attempt_options(request),
        )

    async def aattempt(self, request: LLMRequest, deadline: float | None) -> LLMResponse:
        """Async form of ``attempt``; waits with ``asyncio.sleep``."""
        return await self._arun(
            request,
            deadline,
            self.provider.acomplete,
            self._chat_attempt_options(request),
        )

    def embed_attempt(self, request: EmbeddingRequest, deadline: float | None) -> EmbeddingResponse:
        """Make one embeddings call; raise ``ConfigurationError`` if the provider has no embeddings."""
        provider = self._embedding_provider()
        return self._run(request, deadline, provider.embed, {"operation": genai.OPERATION_EMBEDDINGS})

    async def aembed_attempt(self, request: EmbeddingRequest, deadline: float | None) -> EmbeddingResponse:
        """Async form of ``embed_attempt``."""
        provider = self._embedding_provider()
        return await self._arun(
            request,
            deadline,
            provider.aembed,
            {"operation": genai.OPERATION_EMBEDDINGS},
        )

    def _embedding_provider(self) -> EmbeddingProvider:
        if not isinstance(self.provider, EmbeddingProvider):
            raise ConfigurationError(
                f"provider {self.provider_name!r} does not serve embeddings; use an OpenAI or "
                "OpenAI-compatible provider for embed()"
            )
        return self.provider

    def _chat_attempt_options(self, request: LLMRequest) -> dict[str, Any]:
        return {
            "operation": genai.OPERATION_CHAT,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "output_type": genai.OUTPUT_TYPE_JSON if request.json_schema is not None else genai.OUTPUT_TYPE_TEXT,
        }

    def _run(
        self,
        request: RequestT,
        deadline: float | None,
        call: Callable[[RequestT], ResponseT],
        span_options: dict[str, Any],
    ) -> ResponseT:
        self._check_breaker()
        reservation = self.limiter.acquire(*self._estimate(request), deadline=deadline, max_wait=self.max_wait)
        permit = self._permit(reservation)
        bounded = self._bounded(request, deadline)
        with self._span(request.model, span_options) as record:
            try:
                response = call(bounded)
            except LLMProviderError as error:
                self._fail(reservation, permit, error)
                raise
            except BaseException:
                self._abandon(reservation, permit)
                raise
            return self._succeed(reservation, permit, response, record)

    async def _arun(
        self,
        request: RequestT,
        deadline: float | None,
        call: Callable[[RequestT], Awaitable[ResponseT]],
        span_options: dict[str, Any],
    ) -> ResponseT:
        self._check_breaker()
        reservation = await self.limiter.aacquire(*self._estimate(request), deadline=deadline, max_wait=self.max_wait)
        permit = self._permit(reservation)
        bounded = self._bounded(request, deadline)
        with self._span(request.model, span_options) as record:
            try:
                response = await call(bounded)
            except LLMProviderError as error:
                self._fail(reservation, permit, error)
                raise
            except BaseException:
                self._abandon(reservation, permit)
                raise
            return self._succeed(reservation, permit, response, record)

    def _span(self, model: str, span_options: dict[str, Any]) -> AbstractContextManager[AttemptRecord]:
        return self.telemetry.attempt(
            provider=self.provider_name,
            model=model,
            server_address=self.server_address,
            server_port=self.server_port,
            **span_options,
        )

    def _check_breaker(self) -> None:
        # A cheap check before waiting for the rate limiter, so an open breaker fails at once.
        wait = self.breaker.time_until_call()
        if wait > 0:
            raise CircuitOpenError(
                f"circuit breaker {self.breaker.name!r} is {self.breaker.state.value}; "
                f"next call admitted in about {wait:.1f}s",
                retry_after=wait,
                provider=self.provider_name,
                model=self.model,
            )

    def _estimate(self, request: LLMRequest | EmbeddingRequest) -> tuple[int, int]:
        output = request.max_tokens if isinstance(request, LLMRequest) else 0
        return estimate_input_tokens(request), output

    def _permit(self, reservation: Reservation) -> Permit:
        try:
            return self.breaker.acquire()
        except CircuitOpenError as error:
            # Another caller took the half-open probe while this one waited for the limiter.
            self.limiter.settle(reservation, None)
            error.provider, error.model = self.provider_name, self.model
            raise

    def _bounded(self, request: RequestT, deadline: float | None) -> RequestT:
        timeout = self.timeout if request.timeout is None else min(request.timeout, self.timeout)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceededError(
                    f"deadline passed before calling {self.provider_name} model {request.model!r}",
                    provider=self.provider_name,
                    model=request.model,
                )
            timeout = min(timeout, left)
        return dataclasses.replace(request, timeout=timeout)

    def _fail(self, reservation: Reservation, permit: Permit, error: LLMProviderError) -> None:
        self.limiter.settle(reservation, None, error.headers)
        if isinstance(error, RateLimitError):
            self.limiter.close_gate(
                error.retry_after,
                f"HTTP 429 from {self.provider_name} model {self.model!r}",
            )
            self.metrics.increment("llm.rate_limit.gate_closed", attributes=self._attributes())
        self.breaker.record_failure(permit, error)

    def _abandon(self, reservation: Reservation, permit: Permit) -> None:
        self.limiter.settle(reservation, None)
        self.breaker.release(permit)

    def _succeed(
        self,
        reservation: Reservation,
        permit: Permit,
        response: ResponseT,
        record: AttemptRecord,
    ) -> ResponseT:
        self.limiter.settle(reservation, response.usage, response.headers)
        self.breaker.record_success(permit)

        cost = self.prices.cost(self.provider_name, self.model, response.usage)
        record.usage = response.usage
        record.response_model = response.model
        record.cost = cost
        if isinstance(response, LLMResponse):
            record.finish_reason = response.finish_reason
        self._count_usage(response.usage, cost)
        return dataclasses.replace(response, cost=cost)

    def _count_usage(self, usage: Usage, cost: float | None) -> None:
        attributes = self._attributes()
        self.metrics.increment("llm.input_tokens", usage.input_tokens, attributes)
        self.metrics.increment("llm.output_tokens", usage.output_tokens, attributes)
        if usage.cached_input_tokens:
            self.metrics.increment("llm.cached_input_tokens", usage.cached_input_tokens, attributes)
        if usage.reasoning_tokens:
            self.metrics.increment("llm.reasoning_tokens", usage.reasoning_tokens, attributes)
        if cost is not None:
            self.metrics.increment("llm.cost", cost, attributes)
        tracker = current_tracker()
        if tracker is not None:
            tracker.add(usage, cost)

    def _attributes(self) -> dict[str, str]:
        return {"provider": self.provider_name, "model": self.model}
