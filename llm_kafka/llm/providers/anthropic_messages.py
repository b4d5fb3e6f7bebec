"""The Anthropic messages provider.

Structured output uses a forced tool call whose input schema is the requested JSON schema;
the tool's input becomes the response text. The SDK clients it builds have
``max_retries=0`` because ``LLMClient`` owns retries; SDK clients passed in as
``options["client"]`` and ``options["async_client"]`` are used as they are, with a warning
when they retry on their own. Anthropic has no embeddings API, so this provider has no
``embed``.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import anthropic

from llm_kafka.errors import LLMProviderError
from llm_kafka.llm.providers.base import ProviderSettings
from llm_kafka.llm.providers.sdk_common import (
    error_from_sdk,
    response_headers,
    sdk_clients,
)
from llm_kafka.llm.types import LLMRequest, LLMResponse, Usage


class AnthropicMessagesProvider:
    """Calls ``messages.create`` through the official ``anthropic`` SDK."""

    name = "anthropic"

    def __init__(self, settings: ProviderSettings) -> None:
        self._client: Any
        self._async_client: Any
        self._client, self._async_client = sdk_clients(
            settings, self.name, anthropic.Anthropic, anthropic.AsyncAnthropic
        )

    def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            raw = self._client.messages.with_raw_response.create(**self._arguments(request))
            message = raw.parse()
        except anthropic.AnthropicError as error:
            raise self._error(request, error) from error
        return self._response(request, message, response_headers(raw))

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        try:
            raw = await self._async_client.messages.with_raw_response.create(**self._arguments(request))
            message = raw.parse()
            if inspect.isawaitable(message):
                message = await message
        except anthropic.AnthropicError as error:
            raise self._error(request, error) from error
        return self._response(request, message, response_headers(raw))

    def _arguments(self, request: LLMRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        }
        if request.system:
            arguments["system"] = request.system
        if request.temperature is not None:
            arguments["temperature"] = request.temperature
        if request.timeout is not None:
            arguments["timeout"] = request.timeout
        if request.json_schema is not None:
            arguments["tools"] = [
                {
                    "name": request.schema_name,
                    "description": "Return the answer as this tool's input.",
                    "input_schema": request.json_schema,
                }
            ]
            arguments["tool_choice"] = {"type": "tool", "name": request.schema_name}
        return arguments

    def _response(self, request: LLMRequest, message: Any, headers: dict[str, str]) -> LLMResponse:
        parts: list[str] = []
        for block in message.content:
            if block.type == "tool_use":
                parts.append(json.dumps(block.input))
            elif block.type == "text":
                parts.append(block.text)
        text = "".join(parts)
        return LLMResponse(
            text=text,
            model=message.model or request.model,
            provider=self.name,
            usage=_usage(message.usage),
            finish_reason=message.stop_reason,
            refusal=(text or "the model refused to answer") if message.stop_reason == "refusal" else None,
            headers=headers,
        )

    def _error(self, request: LLMRequest, error: Exception) -> LLMProviderError:
        return error_from_sdk(error, anthropic, provider=self.name, model=request.model)


def _usage(usage: Any) -> Usage:
    # Anthropic's input_tokens leaves out the tokens read from or written to the prompt cache.
    uncached = getattr(usage, "input_tokens", 0) or 0
    cache_read = getattr(usage, "cache_read_input_tokens", 0) or 0
    cache_write = getattr(usage, "cache_creation_input_tokens", 0) or 0
    return Usage(
        input_tokens=uncached + cache_read + cache_write,
        output_tokens=getattr(usage, "output_tokens", 0) or 0,
        cached_input_tokens=cache_read,
    )
