"""``LLMClient``: the facade processors use to call a model.

It builds the provider from the registry and owns everything around the call: retries (the
SDK clients it builds have theirs off), the rate limiter and circuit breaker of its provider
and model, fallbacks, the truncation retry, structured-output repair, the response cache,
and usage and cost accounting. ``complete`` blocks the calling thread; ``acomplete`` runs on
the caller's event loop and waits only with ``asyncio.sleep``.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel

from llm_kafka.errors import (
    CircuitOpenError,
    ConfigurationError,
    ContentFilterError,
    DeadlineExceededError,
    LLMProviderError,
    OutputTruncatedError,
    RateLimitError,
    StructuredOutputError,
)
from llm_kafka.llm.cache import ResponseCache, cache_key
from llm_kafka.llm.cost import PriceTable
from llm_kafka.llm.deadline import current_deadline
from llm_kafka.llm.providers.base import ProviderSettings
from llm_kafka.llm.rate_limit import RateLimiter, RateLimits, default_rate_limiters
from llm_kafka.llm.registry import ProviderRegistry, default_registry
from llm_kafka.llm.routing import Route, estimate_input_tokens
from llm_kafka.llm.structured import (
    StructuredResponse,
    parse_output,
    repair_messages,
    schema_options,
)
from llm_kafka.llm.types import (
    ChatMessage,
    EmbeddingRequest,
    EmbeddingResponse,
    LLMRequest,
    LLMResponse,
    Usage,
)
from llm_kafka.llm.usage import current_tracker
from llm_kafka.observability.llm_telemetry import LLMTelemetry
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.resilience.circuit_breaker import CircuitBreaker, StateListener
from llm_kafka.resilience.clock import SYSTEM_CLOCK, Clock
from llm_kafka.resilience.retry import RetryPolicy

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
ResponseT = TypeVar("ResponseT", LLMResponse, EmbeddingResponse)

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
_API_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
_TRUNCATED_REASONS = frozenset({"length", "max_tokens"})

MessagesArgument = str | Sequence[ChatMessage | dict[str, str]]


def _server_of(base_url: str | None) -> dict[str, Any]:
    """Return the ``server_address`` and ``server_port`` of ``base_url`` for telemetry."""
    if base_url is None:
        return {}
    parts = urllib.parse.urlsplit(base_url)
    return {"server_address": parts.hostname, "server_port": parts.port}


def _to_messages(prompt: MessagesArgument) -> tuple[ChatMessage, ...]:
    if isinstance(prompt, str):
        return (ChatMessage("user", prompt),)
    messages = []
    for item in prompt:
        if isinstance(item, ChatMessage):
            messages.append(item)
        else:
            messages.append(ChatMessage(item["role"], item["content"]))  # type: ignore[arg-type]
    if not messages:
        raise ValueError("a completion needs at least one message")
    return tuple(messages)


@dataclasses.dataclass
class _Totals:
    """Usage, cost and attempts of one logical call, over retries, fallbacks and repairs."""

    usage: Usage = dataclasses.field(default_factory=Usage)
    cost: float | None = None
    attempts: int = 0

    def add(self, response: LLMResponse | EmbeddingResponse) -> None:
        self.usage = self.usage + response.usage
        if response.cost is not None:
            self.cost = (self.cost or 0.0) + response.cost

    def apply(self, response: ResponseT) -> ResponseT:
        return dataclasses.replace(response, usage=self.usage, cost=self.cost, attempts=self.attempts)


class LLMClient:
    """Calls one provider and model with retries, rate limits, a circuit breaker and fallbacks.

    ``provider`` is a registered provider name (``openai`` and ``anthropic`` are built in).
    ``api_key`` defaults to the provider's usual environment variable; ``base_url`` points
    the client at an OpenAI- or Anthropic-compatible server instead. ``timeout`` limits each
    attempt in seconds. ``rate_limits`` sets the budgets of this provider and model, shared
    with every other client of the same provider, ``base_url`` and model in the process.
    ``fallbacks`` are clients tried in order when this one's breaker is open or its retries
    are used up. A call waits for the rate limiter up to ``retry_policy.max_retry_after``
    seconds; a longer wait raises a provider-wide ``RateLimitError`` without a request.
    ``prices`` turns usage into cost, and ``cache`` (off by default) serves repeated requests
    without calling the provider. Example::

        client = LLMClient("openai", "gpt-4o-mini", rate_limits=RateLimits(requests_per_minute=500))
        text = client.complete("Say hello", system="Be brief").text
    """

    def __init__(
        self,
        provider: str = "openai",
        model: str | None = None,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 1024,
        temperature: float | None = None,
        retry_policy: RetryPolicy | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        rate_limits: RateLimits | None = None,
        rate_limiter: RateLimiter | None = None,
        fallbacks: Sequence[LLMClient] = (),
        prices: PriceTable | None = None,
        cache: ResponseCache | None = None,
        repair_attempts: int = 1,
        max_truncation_tokens: int = 16384,
        metrics: MetricsCollector | None = None,
        telemetry: LLMTelemetry | None = None,
        registry: ProviderRegistry | None = None,
        provider_options: dict[str, Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.provider_name = provider
        self.model = model or DEFAULT_MODELS.get(provider, "")
        if not self.model:
            raise ConfigurationError(f"no default model for provider {provider!r}; pass model=...")
        if timeout <= 0:
            raise ConfigurationError(f"invalid timeout {timeout}: expected seconds > 0 for each attempt")
        if repair_attempts < 0:
            raise ConfigurationError(f"invalid repair_attempts {repair_attempts}: expected 0 or more")
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retry_policy = retry_policy or RetryPolicy()
        self.repair_attempts = repair_attempts
        self.max_truncation_tokens = max_truncation_tokens
        self.metrics = metrics or MetricsCollector()
        self.prices = prices or PriceTable()
        self.cache = cache
        self.fallbacks = tuple(fallbacks)
        self.clock = clock or SYSTEM_CLOCK
        self.circuit_breaker = circuit_breaker or CircuitBreaker(f"{provider}:{self.model}", clock=self.clock.monotonic)
        self.circuit_breaker.add_listener(self._count_transition)
        limiter_key = f"{provider}:{base_url or 'default'}:{self.model}"
        if rate_limiter is None and clock is not None:
            # A client on its own clock gets its own limiter: the shared ones run on real time.
            rate_limiter = RateLimiter(limiter_key, rate_limits, clock=clock.monotonic, waits=clock)
        self.rate_limiter = rate_limiter or default_rate_limiters().get(limiter_key, rate_limits)
        self._last_input_estimate = 0

        key = api_key if api_key is not None else os.environ.get(_API_KEY_ENV.get(provider, ""), None)
        settings = ProviderSettings(
            api_key=key,
            base_url=base_url,
            timeout=timeout,
            options=provider_options or {},
        )
        factory = (registry or default_registry()).factory(provider)
        self._route = Route(
            provider=factory(settings),
            provider_name=provider,
            model=self.model,
            timeout=timeout,
            max_wait=self.retry_policy.max_retry_after,
            breaker=self.circuit_breaker,
            limiter=self.rate_limiter,
            prices=self.prices,
            telemetry=telemetry or LLMTelemetry(),
            metrics=self.metrics,
            **_server_of(base_url),
        )

    def __repr__(self) -> str:
        return f"LLMClient(provider={self.provider_name!r}, model={self.model!r})"

    # --- state for the engine ---------------------------------------------------------

    def wait_time(self) -> float:
        """Return seconds until a new call could start without waiting, 0.0 if it could now.

        Counts the rate-limit gate a 429 closed, spent request and token budgets (for a call
        of the last prompt size plus ``max_tokens``), and an open circuit breaker. With
        fallbacks it is the shortest wait of any route, because calls go to the first route
        that is free. Cheap and thread-safe, for a poll loop to call every turn.
        """
        estimate = (self._last_input_estimate, self.max_tokens)
        waits = [self._route.wait_time(*estimate)]
        waits.extend(fallback._route.wait_time(*estimate) for fallback in self.fallbacks)
        return min(waits)

    def add_state_listener(self, listener: StateListener) -> None:
        """Call ``listener(breaker, old_state, new_state)`` on every breaker transition.

        Covers this client's breaker and its fallbacks' breakers; their ``breaker.name`` values
        differ. Listeners run on the thread that caused the transition and must return quickly.
        """
        self.circuit_breaker.add_listener(listener)
        for fallback in self.fallbacks:
            fallback.add_state_listener(listener)

    # --- requests -----------------------------------------------------------------------

    def request(
        self,
        prompt: MessagesArgument,
        *,
        system: str | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        json_schema: dict[str, Any] | None = None,
        schema_name: str = "result",
        timeout: float | None = None,
    ) -> LLMRequest:
        """Build the provider-neutral request that ``complete`` would send."""
        return LLMRequest(
            model=model or self.model,
            messages=_to_messages(prompt),
            system=system,
            max_tokens=max_tokens or self.max_tokens,
            temperature=self.temperature if temperature is None else temperature,
            json_schema=json_schema,
            schema_name=schema_name,
            timeout=timeout,
        )

    def complete(
        self,
        prompt: MessagesArgument,
        *,
        deadline: float | None = None,
        allow_truncated: bool = False,
        **options: Any,
    ) -> LLMResponse:
        """Return the model's response to ``prompt`` (a string or a list of messages).

        ``options`` are those of ``request``. ``deadline`` (a ``time.monotonic()`` value)
        bounds all attempts and fallbacks together; by default the one ``deadline_after``
        set applies. An output cut at ``max_tokens`` is retried once with twice the limit,
        then raises ``OutputTruncatedError`` unless ``allow_truncated`` is true. Raises
        ``LLMProviderError`` subclasses; ``error.provider_wide`` tells the pipeline to pause.
        """
        request = self.request(prompt, **options)
        cached = self._cached(request, LLMResponse)
        if cached is not None:
            return cached
        response = self._complete(request, self._deadline(deadline), allow_truncated)
        self._store(request, response)
        return response

    async def acomplete(
        self,
        prompt: MessagesArgument,
        *,
        deadline: float | None = None,
        allow_truncated: bool = False,
        **options: Any,
    ) -> LLMResponse:
        """Async form of ``complete``; it waits with ``asyncio.sleep`` and the async SDK client."""
        request = self.request(prompt, **options)
        cached = self._cached(request, LLMResponse)
        if cached is not None:
            return cached
        response = await self._acomplete(request, self._deadline(deadline), allow_truncated)
        self._store(request, response)
        return response

    def structured(self, prompt: MessagesArgument, output_model: type[ModelT], **options: Any) -> ModelT:
        """Return the model's response to ``prompt`` as a validated ``output_model``.

        Uses the provider's native JSON-schema output. An output that does not validate is
        sent back with the errors up to ``repair_attempts`` times; then
        ``StructuredOutputError`` (not retryable) is raised with the last raw output.
        """
        return self.structured_response(prompt, output_model, **options).output

    async def astructured(self, prompt: MessagesArgument, output_model: type[ModelT], **options: Any) -> ModelT:
        """Async form of ``structured``."""
        return (await self.astructured_response(prompt, output_model, **options)).output

    def structured_response(
        self,
        prompt: MessagesArgument,
        output_model: type[ModelT],
        *,
        deadline: float | None = None,
        **options: Any,
    ) -> StructuredResponse[ModelT]:
        """Like ``structured``, but also return the response with usage and cost over all repairs."""
        request = self.request(prompt, **{**schema_options(output_model), **options})
        hit = self._cached_structured(request, output_model)
        if hit is not None:
            return hit

        limit = self._deadline(deadline)
        totals = _Totals()
        current = request
        for repair in range(self.repair_attempts + 1):
            response = self._complete(current, limit, False, totals)
            outcome = self._check_structured(request, current, response, output_model, repair, totals)
            if isinstance(outcome, StructuredResponse):
                return outcome
            current = outcome
        raise AssertionError("unreachable: the last repair either returns or raises")

    async def astructured_response(
        self,
        prompt: MessagesArgument,
        output_model: type[ModelT],
        *,
        deadline: float | None = None,
        **options: Any,
    ) -> StructuredResponse[ModelT]:
        """Async form of ``structured_response``."""
        request = self.request(prompt, **{**schema_options(output_model), **options})
        hit = self._cached_structured(request, output_model)
        if hit is not None:
            return hit

        limit = self._deadline(deadline)
        totals = _Totals()
        current = request
        for repair in range(self.repair_attempts + 1):
            response = await self._acomplete(current, limit, False, totals)
            outcome = self._check_structured(request, current, response, output_model, repair, totals)
            if isinstance(outcome, StructuredResponse):
                return outcome
            current = outcome
        raise AssertionError("unreachable: the last repair either returns or raises")

    def embed(
        self,
        texts: str | Sequence[str],
        *,
        model: str | None = None,
        dimensions: int | None = None,
    ) -> EmbeddingResponse:
        """Return one embedding vector per text, with the same retries, limits and breaker."""
        request = self._embedding_request(texts, model, dimensions)
        cached = self._cached(request, EmbeddingResponse)
        if cached is not None:
            return cached
        deadline = self._deadline(None)
        response = self._with_fallbacks(
            request,
            _Totals(),
            lambda route, routed, t: self._embed_on(route, routed, deadline, t),
        )
        self._store(request, response)
        return response

    async def aembed(
        self,
        texts: str | Sequence[str],
        *,
        model: str | None = None,
        dimensions: int | None = None,
    ) -> EmbeddingResponse:
        """Async form of ``embed``."""
        request = self._embedding_request(texts, model, dimensions)
        cached = self._cached(request, EmbeddingResponse)
        if cached is not None:
            return cached
        totals = _Totals()
        deadline = self._deadline(None)
        last_error: LLMProviderError | None = None
        for route, routed in self._routes(request):
            try:
                response = await self._aretry(
                    route,
                    functools.partial(route.aembed_attempt, routed, deadline),
                    deadline,
                    totals,
                )
            except LLMProviderError as error:
                last_error = self._fallback_or_raise(route, error, totals)
                continue
            totals.add(response)
            result = totals.apply(response)
            self._store(request, result)
            return result
        assert last_error is not None
        raise last_error

    # --- the call loops ------------------------------------------------------------------

    def _complete(
        self,
        request: LLMRequest,
        deadline: float | None,
        allow_truncated: bool,
        totals: _Totals | None = None,
    ) -> LLMResponse:
        totals = totals or _Totals()
        self.metrics.increment("llm.requests", attributes=self._attributes(request.model))
        self._last_input_estimate = estimate_input_tokens(request)
        return self._with_fallbacks(
            request,
            totals,
            lambda route, routed, t: self._complete_on(route, routed, deadline, allow_truncated, t),
        )

    async def _acomplete(
        self,
        request: LLMRequest,
        deadline: float | None,
        allow_truncated: bool,
        totals: _Totals | None = None,
    ) -> LLMResponse:
        totals = totals or _Totals()
        self.metrics.increment("llm.requests", attributes=self._attributes(request.model))
        self._last_input_estimate = estimate_input_tokens(request)
        last_error: LLMProviderError | None = None
        for route, routed in self._routes(request):
            try:
                return await self._acomplete_on(route, routed, deadline, allow_truncated, totals)
            except LLMProviderError as error:
                last_error = self._fallback_or_raise(route, error, totals)
        assert last_error is not None
        raise last_error

    def _with_fallbacks(
        self,
        request: Any,
        totals: _Totals,
        run: Callable[[Route, Any, _Totals], ResponseT],
    ) -> ResponseT:
        last_error: LLMProviderError | None = None
        for route, routed in self._routes(request):
            try:
                return run(route, routed, totals)
            except LLMProviderError as error:
                last_error = self._fallback_or_raise(route, error, totals)
        assert last_error is not None
        raise last_error

    def _complete_on(
        self,
        route: Route,
        request: LLMRequest,
        deadline: float | None,
        allow_truncated: bool,
        totals: _Totals,
    ) -> LLMResponse:
        enlarged = False
        while True:
            response = self._retry(
                route,
                functools.partial(route.attempt, request, deadline),
                deadline,
                totals,
            )
            totals.add(response)
            larger = self._check_answer(route, request, response, allow_truncated, totals, enlarged)
            if larger is None:
                return totals.apply(response)
            request, enlarged = larger, True

    async def _acomplete_on(
        self,
        route: Route,
        request: LLMRequest,
        deadline: float | None,
        allow_truncated: bool,
        totals: _Totals,
    ) -> LLMResponse:
        enlarged = False
        while True:
            response = await self._aretry(
                route,
                functools.partial(route.aattempt, request, deadline),
                deadline,
                totals,
            )
            totals.add(response)
            larger = self._check_answer(route, request, response, allow_truncated, totals, enlarged)
            if larger is None:
                return totals.apply(response)
            request, enlarged = larger, True

    def _embed_on(
        self,
        route: Route,
        request: EmbeddingRequest,
        deadline: float | None,
        totals: _Totals,
    ) -> EmbeddingResponse:
        response = self._retry(
            route,
            functools.partial(route.embed_attempt, request, deadline),
            deadline,
            totals,
        )
        totals.add(response)
        return totals.apply(response)

    def _retry(
        self,
        route: Route,
        attempt: Callable[[], ResponseT],
        deadline: float | None,
        totals: _Totals,
    ) -> ResponseT:
        number = 1
        while True:
            totals.attempts += 1
            try:
                return attempt()
            except LLMProviderError as error:
                wait = self._retry_wait(route, number, error, deadline, totals)
            self.clock.sleep(wait)
            number += 1

    async def _aretry(
        self,
        route: Route,
        attempt: Callable[[], Awaitable[ResponseT]],
        deadline: float | None,
        totals: _Totals,
    ) -> ResponseT:
        number = 1
        while True:
            totals.attempts += 1
            try:
                return await attempt()
            except LLMProviderError as error:
                wait = self._retry_wait(route, number, error, deadline, totals)
            await self.clock.asleep(wait)
            number += 1

    # --- decisions shared by the plain and async paths -----------------------------------

    def _retry_wait(
        self,
        route: Route,
        attempt: int,
        error: LLMProviderError,
        deadline: float | None,
        totals: _Totals,
    ) -> float:
        """Return the wait before the next attempt, or raise ``error`` when there is none.

        Logs each decision once at debug level and counts retries by reason.
        """
        error.attempts = totals.attempts
        policy = self.retry_policy
        if (
            isinstance(error, RateLimitError)
            and error.retry_after is not None
            and error.retry_after > policy.max_retry_after
        ):
            # The server requests a pause longer than one message should hold a worker, so the
            # gate stays closed that long and wait_time() lets the consumer pause.
            error.provider_wide = True
            route.limiter.close_gate(error.retry_after, f"retry-after of {error.retry_after:.0f}s")
            logger.debug(
                "not retrying %s: retry-after %.1fs exceeds max_retry_after",
                route,
                error.retry_after,
            )
            raise error
        if isinstance(error, CircuitOpenError):
            raise error

        wait = policy.delay(attempt, error)
        if wait is None:
            logger.debug(
                "not retrying %s after attempt %d: %s: %s",
                route,
                attempt,
                type(error).__name__,
                error,
            )
            raise error
        if deadline is not None and time.monotonic() + wait >= deadline:
            logger.debug("not retrying %s: a %.2fs wait would pass the deadline", route, wait)
            raise DeadlineExceededError(
                f"deadline reached while retrying {route.provider_name} model {route.model!r}; last error: {error}",
                provider=route.provider_name,
                model=route.model,
                status_code=error.status_code,
                attempts=totals.attempts,
            ) from error

        logger.debug(
            "retrying %s after attempt %d in %.2fs because of %s: %s",
            route,
            attempt,
            wait,
            type(error).__name__,
            error,
        )
        self.metrics.increment(
            "llm.retries",
            attributes={
                **self._attributes(route.model),
                "reason": type(error).__name__,
            },
        )
        return wait

    def _check_answer(
        self,
        route: Route,
        request: LLMRequest,
        response: LLMResponse,
        allow_truncated: bool,
        totals: _Totals,
        enlarged: bool,
    ) -> LLMRequest | None:
        """Raise for a refused or twice-truncated output; return a larger request to retry, or None."""
        if response.refusal is not None or response.finish_reason == "content_filter":
            raise ContentFilterError(
                f"{route.provider_name} model {request.model!r} refused the request or the provider "
                f"filtered the output: {response.refusal or response.finish_reason}",
                raw_output=response.refusal or response.text,
                provider=route.provider_name,
                model=request.model,
                attempts=totals.attempts,
            )
        if allow_truncated or response.finish_reason not in _TRUNCATED_REASONS:
            return None
        larger = min(request.max_tokens * 2, self.max_truncation_tokens)
        if enlarged or larger <= request.max_tokens:
            raise OutputTruncatedError(
                f"{route.provider_name} model {request.model!r} stopped at max_tokens={request.max_tokens} "
                "again after a retry with a larger limit; raise max_tokens or shorten the expected output",
                raw_output=response.text,
                provider=route.provider_name,
                model=request.model,
                attempts=totals.attempts,
            )
        logger.debug(
            "retrying %s with max_tokens=%d because the output stopped at %d",
            route,
            larger,
            request.max_tokens,
        )
        self.metrics.increment(
            "llm.retries",
            attributes={**self._attributes(route.model), "reason": "truncated"},
        )
        return dataclasses.replace(request, max_tokens=larger)

    def _check_structured(
        self,
        original: LLMRequest,
        sent: LLMRequest,
        response: LLMResponse,
        output_model: type[ModelT],
        repair: int,
        totals: _Totals,
    ) -> StructuredResponse[ModelT] | LLMRequest:
        """Return the validated output, or the repair request, or raise when repairs ran out."""
        parsed = parse_output(response.text, output_model)
        if not isinstance(parsed, str):
            self._store(original, response)
            return StructuredResponse(parsed, response, repair)
        if repair >= self.repair_attempts:
            self.metrics.increment(
                "llm.errors",
                attributes={
                    **self._attributes(sent.model),
                    "error.type": StructuredOutputError.__name__,
                },
            )
            raise StructuredOutputError(
                f"{response.provider} model {response.model!r} returned output that is not a valid "
                f"{output_model.__name__} after {repair} repair attempt(s): {parsed}",
                raw_output=response.text,
                provider=response.provider,
                model=response.model,
                attempts=totals.attempts,
            )
        logger.debug(
            "asking %s again for a valid %s: %s",
            self._route,
            output_model.__name__,
            parsed,
        )
        self.metrics.increment(
            "llm.retries",
            attributes={**self._attributes(sent.model), "reason": "structured_repair"},
        )
        return dataclasses.replace(
            sent,
            messages=repair_messages(sent.messages, response.text, parsed, output_model),
        )

    def _fallback_or_raise(self, route: Route, error: LLMProviderError, totals: _Totals) -> LLMProviderError:
        """Return ``error`` when the next route should be tried; raise it when none should."""
        error.attempts = totals.attempts
        is_last = route is self._last_route()
        if is_last or not (error.retryable or error.provider_wide) or isinstance(error, DeadlineExceededError):
            self.metrics.increment(
                "llm.errors",
                attributes={
                    **self._attributes(route.model),
                    "error.type": type(error).__name__,
                },
            )
            raise error
        logger.info("falling back from %s after %s: %s", route, type(error).__name__, error)
        self.metrics.increment(
            "llm.fallbacks",
            attributes={
                **self._attributes(route.model),
                "reason": type(error).__name__,
            },
        )
        return error

    def _routes(self, request: Any) -> list[tuple[Route, Any]]:
        routes: list[tuple[Route, Any]] = [(self._route, request)]
        for fallback in self.fallbacks:
            routes.append((fallback._route, dataclasses.replace(request, model=fallback.model)))
        return routes

    def _last_route(self) -> Route:
        return self.fallbacks[-1]._route if self.fallbacks else self._route

    # --- small helpers ----------------------------------------------------------------

    @staticmethod
    def _deadline(deadline: float | None) -> float | None:
        shared = current_deadline()
        if deadline is None:
            return shared
        return deadline if shared is None else min(deadline, shared)

    def _embedding_request(
        self, texts: str | Sequence[str], model: str | None, dimensions: int | None
    ) -> EmbeddingRequest:
        inputs = (texts,) if isinstance(texts, str) else tuple(texts)
        if not inputs:
            raise ValueError("embed needs at least one text")
        return EmbeddingRequest(model=model or self.model, inputs=inputs, dimensions=dimensions)

    def _cached(self, request: LLMRequest | EmbeddingRequest, kind: type[ResponseT]) -> ResponseT | None:
        if self.cache is None:
            return None
        stored = self.cache.get(cache_key(self.provider_name, request))
        if not isinstance(stored, kind):
            return None
        self.metrics.increment("llm.cache_hits", attributes=self._attributes(request.model))
        tracker = current_tracker()
        if tracker is not None:
            tracker.add(Usage(), 0.0, calls=0, cached=True)
        return dataclasses.replace(stored, usage=Usage(), cost=0.0, attempts=0, cached=True)

    def _cached_structured(self, request: LLMRequest, output_model: type[ModelT]) -> StructuredResponse[ModelT] | None:
        cached = self._cached(request, LLMResponse)
        if cached is None:
            return None
        parsed = parse_output(cached.text, output_model)
        return None if isinstance(parsed, str) else StructuredResponse(parsed, cached, 0)

    def _store(self, request: Any, response: LLMResponse | EmbeddingResponse) -> None:
        if self.cache is not None:
            self.cache.set(cache_key(self.provider_name, request), response)

    def _count_transition(self, breaker: CircuitBreaker, old: Any, new: Any) -> None:
        self.metrics.increment(
            "llm.circuit_breaker.transitions",
            attributes={"breaker": breaker.name, "from": old.value, "to": new.value},
        )

    def _attributes(self, model: str) -> dict[str, str]:
        return {"provider": self.provider_name, "model": model}
