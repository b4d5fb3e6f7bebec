"""Deterministic answers of the local LLM server, independent of the provider wire format.

Owns the chat request model shared by both APIs, the rule for plain-text answers, structured
(JSON) answers, malformed answers, token estimates with `max_tokens` truncation, and embedding
vectors. Tests call `expected_chat_answer` and `embedding_vector` to predict responses.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llm_kafka.testing.llm_server.schema_values import generate_from_schema

CHARS_PER_TOKEN = 4
PREVIEW_WORDS = 8
DEFAULT_EMBEDDING_DIMENSIONS = 64
MALFORMED_PROSE = "Sorry, I cannot give that answer as JSON. Here is some prose instead."
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


class RequestError(ValueError):
    """Raised for a request body that the server rejects, with the HTTP status to send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def message_texts(body: dict[str, Any], content_text: Callable[[Any], str]) -> tuple[list[str], str]:
    """Validate ``body["messages"]`` and return the text of each message and the prompt.

    The prompt is the text of the last user message, or of the last message when no message
    has the user role. ``content_text`` turns one message's content into text for its API.
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "invalid 'messages': expected a non-empty array of message objects")
    if not all(isinstance(message, dict) for message in messages):
        raise RequestError(400, "invalid 'messages': every message must be an object")

    texts = [content_text(message.get("content")) for message in messages]
    user_texts = [text for message, text in zip(messages, texts, strict=True) if message.get("role") == "user"]
    return texts, user_texts[-1] if user_texts else texts[-1]


@dataclass(frozen=True)
class ChatRequest:
    """Provider-neutral view of a chat request (OpenAI chat completion or Anthropic message)."""

    model: str
    prompt: str
    """Text of the last user message: answers, markers and structured values derive from it."""
    input_tokens: int
    """Estimate from message and system text only.

    NOTE: tool definitions and schemas are not counted, so this is lower than a real provider's
    count for tool-heavy requests."""
    max_tokens: int | None
    stream: bool
    schema: dict[str, Any] | None = None
    """JSON schema that the answer must conform to, from a response format or a forced tool."""
    tool_name: str | None = None
    """Name of the forced tool, when the answer is a tool call."""
    json_object: bool = False
    """Whether the request asked for any JSON object (OpenAI `json_object` response format)."""
    include_usage_in_stream: bool = False


@dataclass(frozen=True)
class ChatAnswer:
    """Answer to a `ChatRequest` before it is written in a provider's format."""

    text: str
    """Answer text, or the JSON text of the structured value or tool arguments."""
    value: Any
    """Parsed structured value, or None for plain text and for malformed or truncated JSON."""
    tool_name: str | None
    truncated: bool
    """Whether `max_tokens` cut the text short."""
    output_tokens: int
    refusal: str | None = None
    """Refusal message when the model declined to answer; `text` is then empty."""


def estimate_tokens(text: str) -> int:
    """Estimate tokens as ceil(characters / 4), the rule for both input and output usage."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def expected_chat_answer(prompt: str) -> str:
    """Return the plain-text answer for a prompt (the last user message's text).

    The rule is `local-llm <h> words=<n>: <preview>`, where <h> is the first 12 hex digits of
    the SHA-256 of the UTF-8 prompt, <n> is `len(prompt.split())`, and <preview> is the first 8
    of those words joined by single spaces, followed by " ..." when there are more. For an empty
    prompt the answer stops after `words=0`. `max_tokens` may truncate the answer on the wire.

        >>> expected_chat_answer("Summarise the order")
        'local-llm c802301147be words=3: Summarise the order'
    """
    words = prompt.split()
    digest = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:12]
    answer = f"local-llm {digest} words={len(words)}"
    if not words:
        return answer
    preview = " ".join(words[:PREVIEW_WORDS])
    if len(words) > PREVIEW_WORDS:
        preview += " ..."
    return f"{answer}: {preview}"


def json_object_answer(prompt: str) -> dict[str, Any]:
    """Return the object sent for OpenAI's `response_format: {"type": "json_object"}`."""
    return {"answer": expected_chat_answer(prompt), "word_count": len(prompt.split())}


def malformed_text(text: str, *, structured: bool) -> str:
    """Return an answer that breaks the requested format.

    Structured answers are cut to their first half, which is never valid JSON for an object or
    array. Plain-text answers become the fixed `MALFORMED_PROSE` sentence.
    """
    if structured:
        return text[: max(1, len(text) // 2)]
    return MALFORMED_PROSE


def truncate_to_max_tokens(text: str, max_tokens: int | None) -> tuple[str, bool]:
    """Cut `text` to `max_tokens * 4` characters; return the text and whether it was cut."""
    if max_tokens is None or estimate_tokens(text) <= max_tokens:
        return text, False
    return text[: max_tokens * CHARS_PER_TOKEN], True


def build_answer(request: ChatRequest, *, malformed: bool, refused: bool = False) -> ChatAnswer:
    """Build the deterministic answer for `request`, optionally in a broken format or refused.

    Raises SchemaError (a ValueError) when the request's schema cannot be satisfied.
    """
    if refused:
        return ChatAnswer(
            text="",
            value=None,
            tool_name=None,
            truncated=False,
            output_tokens=estimate_tokens(REFUSAL_TEXT),
            refusal=REFUSAL_TEXT,
        )
    structured = request.schema is not None or request.json_object
    value: Any = None
    if request.schema is not None:
        value = generate_from_schema(request.schema, request.prompt)
        text = json.dumps(value)
    elif request.json_object:
        value = json_object_answer(request.prompt)
        text = json.dumps(value)
    else:
        text = expected_chat_answer(request.prompt)

    if malformed:
        text = malformed_text(text, structured=structured)
        value = None

    text, truncated = truncate_to_max_tokens(text, request.max_tokens)
    if truncated:
        value = None
    return ChatAnswer(
        text=text,
        value=value,
        tool_name=request.tool_name,
        truncated=truncated,
        output_tokens=estimate_tokens(text),
    )


def embedding_vector(text: str, dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS) -> list[float]:
    """Return the unit-length embedding for `text`.

    Component i is derived from SHA-256 of `f"{i // 8}:{text}"`: bytes 4*(i % 8) to 4*(i % 8)+4
    read as a big-endian unsigned integer and mapped linearly onto [-1, 1]. The vector is then
    divided by its Euclidean norm. The wire format may round components to float32.
    """
    if dimensions < 1:
        raise ValueError(f"invalid dimensions {dimensions}: expected an integer >= 1")
    components: list[float] = []
    for block in range(math.ceil(dimensions / 8)):
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        for offset in range(0, 32, 4):
            (number,) = struct.unpack(">I", digest[offset : offset + 4])
            components.append(number / 0xFFFFFFFF * 2.0 - 1.0)
    components = components[:dimensions]
    norm = math.sqrt(sum(component * component for component in components))
    if norm == 0.0:
        return [1.0] + [0.0] * (dimensions - 1)
    return [component / norm for component in components]


def split_into_chunks(text: str, size: int = 16) -> list[str]:
    """Split `text` into pieces of at most `size` characters for streamed answers."""
    return [text[start : start + size] for start in range(0, len(text), size)]
