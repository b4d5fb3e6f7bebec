"""The interface every LLM provider implements, and the settings it is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from llm_kafka.llm.types import LLMRequest, LLMResponse


@dataclass(frozen=True)
class ProviderSettings:
    """Settings a provider factory receives. ``api_key`` is left out of the repr."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """One model provider behind ``LLMClient``.

    ``complete`` may block the calling thread for the whole call; ``acomplete`` must not block
    the event loop. Both raise ``LLMProviderError`` subclasses and never retry on their own:
    ``LLMClient`` owns retries.
    """

    name: str

    def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def acomplete(self, request: LLMRequest) -> LLMResponse: ...


class ProviderFactory(Protocol):
    """Builds a provider from settings; registered under a name through the plugin hook."""

    def __call__(self, settings: ProviderSettings) -> Provider: ...
