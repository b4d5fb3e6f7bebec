"""Provider-neutral request and response types of the LLM client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class LLMRequest:
    """One completion request, before any provider-specific translation.

    ``json_schema`` requests a JSON object matching that schema: providers use their native
    structured output (OpenAI ``response_format``, Anthropic a forced tool call). ``timeout``
    is the limit of one attempt in seconds; None keeps the provider's client timeout.
    """

    model: str
    messages: tuple[ChatMessage, ...]
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    json_schema: dict[str, Any] | None = None
    schema_name: str = "result"
    timeout: float | None = None


@dataclass(frozen=True)
class EmbeddingRequest:
    """One embeddings request: one vector is returned per input text, in order."""

    model: str
    inputs: tuple[str, ...]
    dimensions: int | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, or the sum over several calls.

    ``input_tokens`` includes ``cached_input_tokens`` (prompt tokens read from the provider's
    prompt cache); ``output_tokens`` includes ``reasoning_tokens``. A provider that does not
    report a count leaves it at 0.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_input_tokens=self.cached_input_tokens + other.cached_input_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class LLMResponse:
    """The text a model returned, with usage, cost and identity.

    ``text`` contains the JSON text of the structured output when ``json_schema`` was requested.
    ``finish_reason`` is the provider's own value (``stop``, ``length``, ``end_turn``, ...).
    ``usage`` and ``cost`` are summed over every attempt of the call (retries, the truncation
    retry and structured-output repairs), so they show what the call cost in total; ``cost``
    is in the currency of the price table and None when the table has no price for a model
    that was called. ``refusal`` is the model's refusal text when it declined the request.
    ``headers`` are the provider's response headers, lower-cased, when it sent any.
    """

    text: str
    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    attempts: int = 1
    cost: float | None = None
    refusal: str | None = None
    cached: bool = False
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class EmbeddingResponse:
    """Embedding vectors, one per input text in request order, with usage and cost."""

    vectors: tuple[tuple[float, ...], ...]
    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    cost: float | None = None
    cached: bool = False
    headers: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
