"""The OpenAI chat completions provider, also used for OpenAI-compatible servers by ``base_url``.

The SDK clients are built with ``max_retries=0`` because ``LLMClient`` owns retries.
"""

from __future__ import annotations

from typing import Any

import openai

from llm_kafka.errors import LLMProviderError
from llm_kafka.llm.providers.base import ProviderSettings
from llm_kafka.llm.providers.sdk_common import error_from_sdk, sdk_client_options
from llm_kafka.llm.types import LLMRequest, LLMResponse, Usage


class OpenAIChatProvider:
    """Calls ``chat.completions.create`` through the official ``openai`` SDK."""

    name = "openai"

    def __init__(self, settings: ProviderSettings) -> None:
        common = sdk_client_options(settings)
        self._client = openai.OpenAI(**common)
        self._async_client = openai.AsyncOpenAI(**common)

    def complete(self, request: LLMRequest) -> LLMResponse:
        try:
            completion = self._client.chat.completions.create(**self._arguments(request))
        except openai.OpenAIError as error:
            raise self._error(request, error) from error
        return self._response(request, completion)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        try:
            completion = await self._async_client.chat.completions.create(**self._arguments(request))
        except openai.OpenAIError as error:
            raise self._error(request, error) from error
        return self._response(request, completion)

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
                "json_schema": {"name": request.schema_name, "schema": request.json_schema},
            }
        return arguments

    def _response(self, request: LLMRequest, completion: Any) -> LLMResponse:
        choice = completion.choices[0]
        usage = completion.usage
        return LLMResponse(
            text=choice.message.content or "",
            model=completion.model or request.model,
            provider=self.name,
            usage=Usage(
                input_tokens=getattr(usage, "prompt_tokens", 0) or 0,
                output_tokens=getattr(usage, "completion_tokens", 0) or 0,
            ),
            finish_reason=choice.finish_reason,
        )

    def _error(self, request: LLMRequest, error: Exception) -> LLMProviderError:
        return error_from_sdk(error, openai, provider=self.name, model=request.model)
