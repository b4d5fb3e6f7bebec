"""The OpenAI chat completions provider, also used for OpenAI-compatible servers by ``base_url``.

Serves vLLM, Ollama, llama.cpp server and Azure OpenAI's v1 endpoint the same way. The SDK
clients it builds have ``max_retries=0`` because ``LLMClient`` owns retries; SDK clients
passed in as ``options["client"]`` and ``options["async_client"]`` are used as they are,
with a warning when they retry on their own.
"""

from __future__ import annotations

import inspect
from typing import Any

import openai

from llm_kafka.errors import LLMProviderError
from llm_kafka.llm.providers.base import ProviderSettings
from llm_kafka.llm.providers.sdk_common import (
    error_from_sdk,
    response_headers,
    sdk_clients,
)
from llm_kafka.llm.types import (
    EmbeddingRequest,
    EmbeddingResponse,
    LLMRequest,
    LLMResponse,
    Usage,
)


class OpenAIChatProvider:
    """Calls ``chat.completions.create`` and ``embeddings.create`` through the ``openai`` SDK."""

    name = "openai"

    def __init__(self, settings: ProviderSettings) -> None:
        self._client: Any
        self._async_client: Any
        self._client, self._async_client = sdk_clients(settings, self.name, openai.OpenAI, openai.AsyncOpenAI)

    def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            raw = self._client.chat.completions.with_raw_response.create(**self._arguments(request))
            completion = raw.parse()
        except openai.OpenAIError as error:
            raise self._error(request.model, error) from error
        return self._response(request, completion, response_headers(raw))

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        try:
            raw = await self._async_client.chat.completions.with_raw_response.create(**self._arguments(request))
            completion = raw.parse()
            if inspect.isawaitable(completion):
                completion = await completion
        except openai.OpenAIError as error:
            raise self._error(request.model, error) from error
        return self._response(request, completion, response_headers(raw))

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        try:
            raw = self._client.embeddings.with_raw_response.create(**self._embedding_arguments(request))
            result = raw.parse()
        except openai.OpenAIError as error:
            raise self._error(request.model, error) from error
        return self._embedding_response(request, result, response_headers(raw))

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        try:
            raw = await self._async_client.embeddings.with_raw_response.create(**self._embedding_arguments(request))
            result = raw.parse()
            if inspect.isawaitable(result):
                result = await result
        except openai.OpenAIError as error:
            raise self._error(request.model, error) from error
        return self._embedding_response(request, result, response_headers(raw))

    def _arguments(self, request: LLMRequest) -> dict[str, Any]:
        messages: list[dict[str, str]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.extend({"role": m.role, "content": m.content} for m in request.messages)

        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_completion_tokens": request.max_tokens,
        }
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.timeout is not None:
            arguments["timeout"] = request.timeout
        if request.json_schema is not None:
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": request.schema_name,
                    "schema": request.json_schema,
                },
            }
        return arguments

    def _response(self, request: LLMRequest, completion: Any, headers: dict[str, str]) -> LLMResponse:
        choice = completion.choices[0]
        message = choice.message
        return LLMResponse(
            text=message.content or "",
            model=completion.model or request.model,
            provider=self.name,
            usage=_usage(completion.usage),
            finish_reason=choice.finish_reason,
            refusal=getattr(message, "refusal", None) or None,
            headers=headers,
        )

    @staticmethod
    def _embedding_arguments(request: EmbeddingRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model,
            "input": list(request.inputs),
            "encoding_format": "float",
        }
        if request.dimensions is not None:
            arguments["dimensions"] = request.dimensions
        if request.timeout is not None:
            arguments["timeout"] = request.timeout
        return arguments

    def _embedding_response(self, request: EmbeddingRequest, result: Any, headers: dict[str, str]) -> EmbeddingResponse:
        ordered = sorted(result.data, key=lambda item: item.index)
        return EmbeddingResponse(
            vectors=tuple(tuple(float(value) for value in item.embedding) for item in ordered),
            model=result.model or request.model,
            provider=self.name,
            usage=Usage(input_tokens=getattr(result.usage, "prompt_tokens", 0) or 0),
            headers=headers,
        )

    def _error(self, model: str, error: Exception) -> LLMProviderError:
        return error_from_sdk(error, openai, provider=self.name, model=model)


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return Usage(
        input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        output_tokens=getattr(usage, "completion_tokens", 0) or 0,
        cached_input_tokens=getattr(prompt_details, "cached_tokens", 0) or 0,
        reasoning_tokens=getattr(completion_details, "reasoning_tokens", 0) or 0,
    )
