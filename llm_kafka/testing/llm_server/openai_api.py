"""OpenAI wire format of the local LLM server.

Parses chat-completion and embedding request bodies into provider-neutral requests, and writes
answers, streamed chunks (server-sent events), model lists, error bodies and `x-ratelimit-*`
headers in the shapes that the `openai` Python SDK parses.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llm_kafka.testing.llm_server.rate_limit import RateLimitState
from llm_kafka.testing.llm_server.responses import (
    DEFAULT_EMBEDDING_DIMENSIONS,
    ChatAnswer,
    ChatRequest,
    RequestError,
    estimate_tokens,
    message_texts,
    split_into_chunks,
)

REQUEST_ID_HEADER = "x-request-id"
MAX_EMBEDDING_DIMENSIONS = 8192
MODEL_IDS = ("local-chat", "local-embedding")
"""Models listed by `GET /v1/models`; requests may name any model and get it echoed back."""


def parse_chat_request(body: dict[str, Any]) -> ChatRequest:
    """Parse a `POST /v1/chat/completions` body; raise RequestError if it is invalid."""
    model = _require_model(body)
    texts, prompt = message_texts(body, _content_text)

    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise RequestError(400, f"invalid max_tokens {max_tokens!r}: expected an integer >= 1")

    stream_options = body.get("stream_options")
    include_usage = isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))
    schema, tool_name, json_object = _structured_target(body)
    return ChatRequest(
        model=model,
        prompt=prompt,
        input_tokens=sum(estimate_tokens(text) for text in texts),
        max_tokens=max_tokens,
        stream=bool(body.get("stream", False)),
        schema=schema,
        tool_name=tool_name,
        json_object=json_object,
        include_usage_in_stream=include_usage,
    )


def _require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "missing 'model': give any non-empty model name, such as 'local-chat'")
    return model


def _content_text(content: Any) -> str:
    """Join the text of a message's content, given as a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        ]
        return "\n".join(parts)
    return ""


def _structured_target(
    body: dict[str, Any],
) -> tuple[dict[str, Any] | None, str | None, bool]:
    """Return (schema, forced tool name, json_object flag) that the answer must satisfy."""
    tools = body.get("tools")
    tool_choice = body.get("tool_choice")
    if isinstance(tools, list) and tools and tool_choice not in (None, "auto", "none"):
        tool = _forced_tool(tools, tool_choice)
        function = tool.get("function", {})
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        return schema, str(function.get("name", "")), False

    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None, None, False
    format_type = response_format.get("type")
    if format_type == "json_schema":
        json_schema = response_format.get("json_schema")
        schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
        if not isinstance(schema, dict):
            raise RequestError(400, "invalid 'response_format': json_schema.schema must be an object")
        return schema, None, False
    if format_type == "json_object":
        return None, None, True
    return None, None, False


def _forced_tool(tools: list[Any], tool_choice: Any) -> dict[str, Any]:
    if tool_choice == "required":
        first = tools[0]
        if not isinstance(first, dict):
            raise RequestError(400, "invalid 'tools': every tool must be an object")
        return first
    if isinstance(tool_choice, dict) and isinstance(tool_choice.get("function"), dict):
        name = tool_choice["function"].get("name")
        for tool in tools:
            if isinstance(tool, dict) and tool.get("function", {}).get("name") == name:
                return tool
        raise RequestError(400, f"invalid 'tool_choice': no tool named {name!r} in 'tools'")
    raise RequestError(
        400,
        f"invalid 'tool_choice' {tool_choice!r}: expected 'auto', 'none', 'required' "
        "or {'type': 'function', 'function': {'name': ...}}",
    )


def _message(answer: ChatAnswer) -> dict[str, Any]:
    if answer.refusal is not None:
        return {"role": "assistant", "content": None, "refusal": answer.refusal}
    if answer.tool_name is None:
        return {"role": "assistant", "content": answer.text, "refusal": None}
    tool_call = {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": answer.tool_name, "arguments": answer.text},
    }
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [tool_call],
    }


def _finish_reason(answer: ChatAnswer) -> str:
    if answer.truncated:
        return "length"
    return "tool_calls" if answer.tool_name is not None else "stop"


def _usage(request: ChatRequest, answer: ChatAnswer) -> dict[str, int]:
    return {
        "prompt_tokens": request.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": request.input_tokens + answer.output_tokens,
    }


def chat_completion_body(request: ChatRequest, answer: ChatAnswer) -> dict[str, Any]:
    """Return the `chat.completion` object for a non-streaming answer."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": "local-llm",
        "choices": [
            {
                "index": 0,
                "message": _message(answer),
                "logprobs": None,
                "finish_reason": _finish_reason(answer),
            }
        ],
        "usage": _usage(request, answer),
    }


def chat_completion_events(request: ChatRequest, answer: ChatAnswer) -> Iterator[bytes]:
    """Yield the server-sent events of a streamed answer, ending with `data: [DONE]`."""
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
        "system_fingerprint": "local-llm",
    }
    usage_field: dict[str, Any] = {"usage": None} if request.include_usage_in_stream else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return _sse({**base, "choices": [choice], **usage_field})

    pieces = split_into_chunks(answer.text)
    if answer.tool_name is None:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for piece in pieces:
            yield chunk({"content": piece})
    else:
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        opening = {
            "index": 0,
            "id": call_id,
            "type": "function",
            "function": {"name": answer.tool_name, "arguments": ""},
        }
        yield chunk({"role": "assistant", "content": None, "tool_calls": [opening]})
        for piece in pieces:
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    yield chunk({}, _finish_reason(answer))

    if request.include_usage_in_stream:
        yield _sse({**base, "choices": [], "usage": _usage(request, answer)})
    yield b"data: [DONE]\n\n"


def _sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


@dataclass(frozen=True)
class EmbeddingRequest:
    """Parsed `POST /v1/embeddings` body."""

    model: str
    inputs: list[str]
    dimensions: int
    encoding_format: str


def parse_embedding_request(body: dict[str, Any]) -> EmbeddingRequest:
    """Parse an embeddings body; token-array inputs are hashed through their JSON text."""
    model = _require_model(body)
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        inputs = [raw_input]
    elif isinstance(raw_input, list) and raw_input and all(isinstance(item, int) for item in raw_input):
        inputs = [json.dumps(raw_input)]
    elif isinstance(raw_input, list) and raw_input:
        inputs = [item if isinstance(item, str) else json.dumps(item) for item in raw_input]
    else:
        raise RequestError(400, "invalid 'input': expected a string or a non-empty array of strings")

    dimensions = body.get("dimensions", DEFAULT_EMBEDDING_DIMENSIONS)
    if not isinstance(dimensions, int) or not 1 <= dimensions <= MAX_EMBEDDING_DIMENSIONS:
        raise RequestError(
            400,
            f"invalid 'dimensions' {dimensions!r}: expected an integer in 1-{MAX_EMBEDDING_DIMENSIONS}",
        )
    encoding_format = body.get("encoding_format", "float")
    if encoding_format not in ("float", "base64"):
        raise RequestError(
            400,
            f"invalid 'encoding_format' {encoding_format!r}: expected 'float' or 'base64'",
        )
    return EmbeddingRequest(model, inputs, dimensions, str(encoding_format))


def embeddings_body(request: EmbeddingRequest, vectors: list[list[float]]) -> dict[str, Any]:
    """Return the embeddings list; base64 encoding packs little-endian float32 values."""
    data: list[dict[str, Any]] = []
    for index, vector in enumerate(vectors):
        embedding: list[float] | str = vector
        if request.encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(estimate_tokens(text) for text in request.inputs)
    return {
        "object": "list",
        "data": data,
        "model": request.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models_body() -> dict[str, Any]:
    """Return the `GET /v1/models` list."""
    models = [{"id": name, "object": "model", "created": 0, "owned_by": "llm-kafka"} for name in MODEL_IDS]
    return {"object": "list", "data": models}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
_ERROR_CODES = {401: "invalid_api_key", 404: "not_found", 429: "rate_limit_exceeded"}


def context_length_error(context_window: int, requested: int) -> dict[str, Any]:
    """Return the 400 body OpenAI sends when a request does not fit the context window."""
    body = error_body(
        400,
        f"This model's maximum context length is {context_window} tokens. However, you "
        f"requested {requested} tokens. Please reduce the length of the messages or completion.",
    )
    body["error"]["code"] = "context_length_exceeded"
    body["error"]["param"] = "messages"
    return body


def quota_error() -> dict[str, Any]:
    """Return the 429 body OpenAI sends when the account has no credit left."""
    return {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    """Return an OpenAI error object; statuses of 500 and above get type "server_error"."""
    default_type = "server_error" if status >= 500 else "invalid_request_error"
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, default_type),
            "param": None,
            "code": _ERROR_CODES.get(status),
        }
    }


def rate_limit_headers(state: RateLimitState) -> dict[str, str]:
    """Return the `x-ratelimit-*` headers for the limits that are configured."""
    headers: dict[str, str] = {}
    if state.request_limit is not None:
        headers["x-ratelimit-limit-requests"] = str(state.request_limit)
        headers["x-ratelimit-remaining-requests"] = str(state.requests_remaining)
        headers["x-ratelimit-reset-requests"] = format_duration(state.requests_reset_seconds)
    if state.token_limit is not None:
        headers["x-ratelimit-limit-tokens"] = str(state.token_limit)
        headers["x-ratelimit-remaining-tokens"] = str(state.tokens_remaining)
        headers["x-ratelimit-reset-tokens"] = format_duration(state.tokens_reset_seconds)
    return headers


def format_duration(seconds: float) -> str:
    """Format seconds the way OpenAI's reset headers do: "250ms", "1.5s", "6m0s"."""
    milliseconds = round(seconds * 1000)
    if milliseconds < 1000:
        return f"{milliseconds}ms"
    minutes, rest_ms = divmod(milliseconds, 60_000)
    rest = f"{rest_ms / 1000:g}s"
    return f"{minutes}m{rest}" if minutes else rest
