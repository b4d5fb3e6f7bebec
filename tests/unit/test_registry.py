"""Provider registry: plugins register providers that LLMClient can use."""

import pytest

from llm_kafka import ConfigurationError, LLMClient
from llm_kafka.llm.hookspecs import hookimpl
from llm_kafka.llm.providers.base import ProviderSettings
from llm_kafka.llm.registry import ProviderRegistry
from llm_kafka.llm.types import LLMRequest, LLMResponse


class ConstantProvider:
    name = "constant"

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings

    def complete(self, request: LLMRequest) -> LLMResponse:
        return LLMResponse(text="constant", model=request.model, provider=self.name)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        return self.complete(request)


class ConstantPlugin:
    @hookimpl
    def register_providers(self, register):  # type: ignore[no-untyped-def]
        register("constant", ConstantProvider)


def test_builtin_providers_are_registered() -> None:
    assert ProviderRegistry(load_entry_points=False).names() == ["anthropic", "openai"]


def test_plugin_provider_serves_client() -> None:
    registry = ProviderRegistry(load_entry_points=False)
    registry.register_plugin(ConstantPlugin())

    client = LLMClient("constant", "any-model", registry=registry)

    assert client.complete("hi").text == "constant"


def test_unknown_provider_lists_known_ones() -> None:
    with pytest.raises(
        ConfigurationError, match="registered providers: anthropic, openai"
    ):
        LLMClient("nope", "m", registry=ProviderRegistry(load_entry_points=False))
