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
    structured output (OpenAI ``response_format``, Anthropic a forced tool call).
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
class Usage:
    """Token counts reported by the provider for one call."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class LLMResponse:
    """The text a model returned, with usage and identity.

    ``text`` contains the JSON text of the structured output when ``json_schema`` was requested.
    ``finish_reason`` is the provider's own value (``stop``, ``length``, ``end_turn``, ...).
    """

    text: str
    model: str
    provider: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    attempts: int = 1
