"""The interface every LLM provider implements, and the settings it is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from llm_kafka.llm.types import (
    EmbeddingRequest,
    EmbeddingResponse,
    LLMRequest,
    LLMResponse,
)


@dataclass(frozen=True)
class ProviderSettings:
    """Settings a provider factory receives. ``api_key`` is left out of the repr.

    ``options`` passes provider-specific settings through; the built-in providers read
    ``client`` and ``async_client`` there, to use SDK clients the user built.
    """

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    timeout: float = 60.0
    options: dict[str, Any] = field(default_factory=dict)


class Provider(Protocol):
    """One model provider behind ``LLMClient``.

    ``complete`` may block the calling thread for the whole call; ``acomplete`` must not block
    the event loop. Both raise ``LLMProviderError`` subclasses and never retry on their own:
    ``LLMClient`` owns retries. They return the response as the provider sent it, including a
    truncated or refused one: ``LLMClient`` decides what those mean.
    """

    name: str

    def complete(self, request: LLMRequest) -> LLMResponse: ...

    async def acomplete(self, request: LLMRequest) -> LLMResponse: ...


@runtime_checkable
class EmbeddingProvider(Protocol):
    """A provider that also serves embeddings; the same rules as ``Provider`` apply."""

    def embed(self, request: EmbeddingRequest) -> EmbeddingResponse: ...

    async def aembed(self, request: EmbeddingRequest) -> EmbeddingResponse: ...


class ProviderFactory(Protocol):
    """Builds a provider from settings; registered under a name through the plugin hook."""

    def __call__(self, settings: ProviderSettings) -> Provider: ...
