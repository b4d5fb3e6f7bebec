"""The Anthropic messages provider.

Structured output uses a forced tool call whose input schema is the requested JSON schema;
the tool's input becomes the response text. The SDK clients are built with
``max_retries=0`` because ``LLMClient`` owns retries.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

from llm_kafka.errors import LLMProviderError
from llm_kafka.llm.providers.base import ProviderSettings
from llm_kafka.llm.providers.sdk_common import error_from_sdk, sdk_client_options
from llm_kafka.llm.types import LLMRequest, LLMResponse, Usage


class AnthropicMessagesProvider:
    """Calls ``messages.create`` through the official ``anthropic`` SDK."""

    name = "anthropic"

    def __init__(self, settings: ProviderSettings) -> None:
        common = sdk_client_options(settings)
        self._client = anthropic.Anthropic(**common)
        self._async_client = anthropic.AsyncAnthropic(**common)

    def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            message = self._client.messages.create(**self._arguments(request))
        except anthropic.AnthropicError as error:
            raise self._error(request, error) from error
        return self._response(request, message)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        try:
            message = await self._async_client.messages.create(**self._arguments(request))
        except anthropic.AnthropicError as error:
            raise self._error(request, error) from error
        return self._response(request, message)

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

    def _response(self, request: LLMRequest, message: Any) -> LLMResponse:
        parts: list[str] = []
        for block in message.content:
            if block.type == "tool_use":
                parts.append(json.dumps(block.input))
            elif block.type == "text":
                parts.append(block.text)
        return LLMResponse(
            text="".join(parts),
            model=message.model or request.model,
            provider=self.name,
            usage=Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens),
            finish_reason=message.stop_reason,
        )

    def _error(self, request: LLMRequest, error: Exception) -> LLMProviderError:
        return error_from_sdk(error, anthropic, provider=self.name, model=request.model)
