"""``LLMClient``: the facade processors use to call a model.

It builds the provider from the registry, and owns retries (the SDK clients it builds have
theirs off) and the circuit breaker of its provider and model. ``complete`` blocks the
calling thread; ``acomplete`` runs on the caller's event loop.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from llm_kafka.errors import ConfigurationError, LLMProviderError, StructuredOutputError
from llm_kafka.llm.providers.base import Provider, ProviderSettings
from llm_kafka.llm.registry import ProviderRegistry, default_registry
from llm_kafka.llm.types import ChatMessage, LLMRequest, LLMResponse
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.resilience.circuit_breaker import CircuitBreaker
from llm_kafka.resilience.retry import RetryPolicy, acall_with_retry, call_with_retry

ModelT = TypeVar("ModelT", bound=BaseModel)

DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
_API_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

MessagesArgument = str | Sequence[ChatMessage | dict[str, str]]


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


class LLMClient:
    """Calls one provider and model with retries, a circuit breaker and usage metrics.

    ``provider`` is a registered provider name (``openai`` and ``anthropic`` are built in).
    ``api_key`` defaults to the provider's usual environment variable; ``base_url`` points
    the client at an OpenAI- or Anthropic-compatible server instead. Example::

        client = LLMClient("openai", "gpt-4o-mini")
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
        metrics: MetricsCollector | None = None,
        registry: ProviderRegistry | None = None,
        provider_options: dict[str, Any] | None = None,
    ) -> None:
        self.provider_name = provider
        self.model = model or DEFAULT_MODELS.get(provider, "")
        if not self.model:
            raise ConfigurationError(f"no default model for provider {provider!r}; pass model=...")
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.retry_policy = retry_policy or RetryPolicy()
        self.circuit_breaker = circuit_breaker or CircuitBreaker(f"{provider}:{self.model}")
        self.metrics = metrics or MetricsCollector()

        key = api_key if api_key is not None else os.environ.get(_API_KEY_ENV.get(provider, ""), None)
        settings = ProviderSettings(api_key=key, base_url=base_url, timeout=timeout, options=provider_options or {})
        factory = (registry or default_registry()).factory(provider)
        self._provider: Provider = factory(settings)

    def __repr__(self) -> str:
        return f"LLMClient(provider={self.provider_name!r}, model={self.model!r})"

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
        )

    def complete(self, prompt: MessagesArgument, **options: Any) -> LLMResponse:
        """Return the model's response to ``prompt`` (a string or a list of messages).

        Retries retryable errors under ``retry_policy``; raises ``LLMProviderError`` otherwise.
        """
        request = self.request(prompt, **options)
        attempts = 0

        def attempt() -> LLMResponse:
            nonlocal attempts
            attempts += 1
            return self.circuit_breaker.call(self._provider.complete, request)

        self.metrics.increment("llm.requests", attributes=self._attributes(request))
        try:
            response: LLMResponse = call_with_retry(self.retry_policy, attempt)
        except LLMProviderError as error:
            self._count_error(request, error)
            raise
        return self._finish(response, attempts)

    async def acomplete(self, prompt: MessagesArgument, **options: Any) -> LLMResponse:
        """Async form of ``complete``."""
        request = self.request(prompt, **options)
        attempts = 0

        async def attempt() -> LLMResponse:
            nonlocal attempts
            attempts += 1
            return await self.circuit_breaker.acall(self._provider.acomplete, request)

        self.metrics.increment("llm.requests", attributes=self._attributes(request))
        try:
            response = await acall_with_retry(self.retry_policy, attempt)
        except LLMProviderError as error:
            self._count_error(request, error)
            raise
        return self._finish(response, attempts)

    def structured(self, prompt: MessagesArgument, output_model: type[ModelT], **options: Any) -> ModelT:
        """Return the model's response to ``prompt`` as a validated ``output_model``.

        Raises ``StructuredOutputError`` (not retryable) with the raw output if it does not validate.
        """
        response = self.complete(prompt, **self._schema_options(output_model, options))
        return self._parse(response, output_model)

    async def astructured(self, prompt: MessagesArgument, output_model: type[ModelT], **options: Any) -> ModelT:
        """Async form of ``structured``."""
        response = await self.acomplete(prompt, **self._schema_options(output_model, options))
        return self._parse(response, output_model)

    @staticmethod
    def _schema_options(output_model: type[BaseModel], options: dict[str, Any]) -> dict[str, Any]:
        return {"json_schema": output_model.model_json_schema(), "schema_name": output_model.__name__, **options}

    def _parse(self, response: LLMResponse, output_model: type[ModelT]) -> ModelT:
        try:
            return output_model.model_validate(json.loads(response.text))
        except (json.JSONDecodeError, PydanticValidationError) as error:
            raise StructuredOutputError(
                f"{response.provider} model {response.model!r} returned output that is not a valid "
                f"{output_model.__name__}: {error}",
                raw_output=response.text,
                provider=response.provider,
                model=response.model,
                attempts=response.attempts,
            ) from error

    def _finish(self, response: LLMResponse, attempts: int) -> LLMResponse:
        attributes = {"provider": response.provider, "model": response.model}
        self.metrics.increment("llm.input_tokens", response.usage.input_tokens, attributes)
        self.metrics.increment("llm.output_tokens", response.usage.output_tokens, attributes)
        if attempts > 1:
            self.metrics.increment("llm.retries", attempts - 1, attributes)
        return dataclasses.replace(response, attempts=attempts)

    def _count_error(self, request: LLMRequest, error: LLMProviderError) -> None:
        self.metrics.increment(
            "llm.errors", attributes={**self._attributes(request), "error.type": type(error).__name__}
        )

    def _attributes(self, request: LLMRequest) -> dict[str, str]:
        return {"provider": self.provider_name, "model": request.model}
