"""Anthropic Messages wire format of the local LLM server.

Parses `POST /v1/messages` bodies into provider-neutral requests, and writes messages,
streamed events (server-sent events), error bodies and `anthropic-ratelimit-*` headers in the
shapes that the `anthropic` Python SDK parses.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from llm_kafka.testing.llm_server.rate_limit import RateLimitState
from llm_kafka.testing.llm_server.responses import (
    ChatAnswer,
    ChatRequest,
    RequestError,
    estimate_tokens,
    message_texts,
    split_into_chunks,
)

REQUEST_ID_HEADER = "request-id"


def parse_message_request(body: dict[str, Any]) -> ChatRequest:
    """Parse a `POST /v1/messages` body; raise RequestError if it is invalid."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "missing 'model': give any non-empty model name, such as 'local-chat'")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestError(400, f"invalid 'max_tokens' {max_tokens!r}: expected an integer >= 1")
    texts, prompt = message_texts(body, _content_text)
    system_text = _content_text(body.get("system"))
    input_tokens = estimate_tokens(system_text) + sum(estimate_tokens(text) for text in texts)

    schema, tool_name = _structured_target(body)
    return ChatRequest(
        model=model,
        prompt=prompt,
        input_tokens=input_tokens,
        max_tokens=max_tokens,
        stream=bool(body.get("stream", False)),
        schema=schema,
        tool_name=tool_name,
    )


def _content_text(content: Any) -> str:
    """Join the text of content given as a string or as blocks (text and tool_result)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts: list[str] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif block.get("type") == "tool_result":
            parts.append(_content_text(block.get("content")))
    return "\n".join(parts)


def _structured_target(
    body: dict[str, Any],
) -> tuple[dict[str, Any] | None, str | None]:
    """Return (schema, forced tool name) from a forced tool or a JSON output format."""
    tools = body.get("tools")
    tool_choice = body.get("tool_choice")
    if isinstance(tools, list) and tools and isinstance(tool_choice, dict):
        choice_type = tool_choice.get("type")
        if choice_type in ("tool", "any"):
            tool = _forced_tool(tools, tool_choice)
            schema = tool.get("input_schema") or {"type": "object", "properties": {}}
            return schema, str(tool.get("name", ""))

    output_config = body.get("output_config")
    output_format = output_config.get("format") if isinstance(output_config, dict) else None
    output_format = output_format or body.get("output_format")
    if isinstance(output_format, dict) and output_format.get("type") == "json_schema":
        schema = output_format.get("schema")
        if not isinstance(schema, dict):
            raise RequestError(400, "invalid output format: 'schema' must be an object")
        return schema, None
    return None, None


def _forced_tool(tools: list[Any], tool_choice: dict[str, Any]) -> dict[str, Any]:
    named = [tool for tool in tools if isinstance(tool, dict)]
    if not named:
        raise RequestError(400, "invalid 'tools': every tool must be an object")
    if tool_choice.get("type") == "any":
        return named[0]
    name = tool_choice.get("name")
    for tool in named:
        if tool.get("name") == name:
            return tool
    raise RequestError(400, f"invalid 'tool_choice': no tool named {name!r} in 'tools'")


def _content_block(answer: ChatAnswer) -> dict[str, Any]:
    if answer.refusal is not None:
        return {"type": "text", "text": answer.refusal}
    return _answer_block(answer)


def _answer_block(answer: ChatAnswer) -> dict[str, Any]:
    """Return a tool_use block for a complete tool answer, else a text block.

    A malformed or truncated tool answer has no parsed value, so it is sent as text, which is
    how a model that ignores the forced tool looks to the client.
    """
    if answer.tool_name is not None and isinstance(answer.value, dict):
        return {
            "type": "tool_use",
            "id": f"toolu_{uuid.uuid4().hex[:24]}",
            "name": answer.tool_name,
            "input": answer.value,
        }
    return {"type": "text", "text": answer.text}


def _stop_reason(answer: ChatAnswer, block: dict[str, Any]) -> str:
    if answer.refusal is not None:
        return "refusal"
    if answer.truncated:
        return "max_tokens"
    return "tool_use" if block["type"] == "tool_use" else "end_turn"


def _usage(request: ChatRequest, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": request.input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message_body(request: ChatRequest, answer: ChatAnswer) -> dict[str, Any]:
    """Return the `message` object for a non-streaming answer."""
    block = _content_block(answer)
    return {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [block],
        "stop_reason": _stop_reason(answer, block),
        "stop_sequence": None,
        "usage": _usage(request, answer.output_tokens),
    }


def message_events(request: ChatRequest, answer: ChatAnswer) -> Iterator[bytes]:
    """Yield the server-sent events of a streamed answer, from message_start to message_stop."""
    block = _content_block(answer)
    yield _message_start(request)

    if block["type"] == "tool_use":
        start_block = {**block, "input": {}}
        delta_type, delta_key, text = "input_json_delta", "partial_json", answer.text
    else:
        start_block = {"type": "text", "text": ""}
        delta_type, delta_key, text = "text_delta", "text", answer.text
    yield _sse(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": start_block},
    )
    yield _sse("ping", {"type": "ping"})
    for piece in split_into_chunks(text):
        delta = {"type": delta_type, delta_key: piece}
        yield _sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": delta},
        )
    yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})

    closing = {"stop_reason": _stop_reason(answer, block), "stop_sequence": None}
    yield _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": closing,
            "usage": {"output_tokens": answer.output_tokens},
        },
    )
    yield _sse("message_stop", {"type": "message_stop"})


def overloaded_events(request: ChatRequest) -> Iterator[bytes]:
    """Yield a stream that starts normally and then fails with an `overloaded_error` event."""
    yield _message_start(request)
    yield _sse("error", error_body(529, "Overloaded"))


def _message_start(request: ChatRequest) -> bytes:
    opening: dict[str, Any] = {
        "type": "message",
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "role": "assistant",
        "model": request.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(request, 0),
    }
    return _sse("message_start", {"type": "message_start", "message": opening})


def context_length_error(context_window: int, requested: int) -> dict[str, Any]:
    """Return the 400 body Anthropic sends when the prompt does not fit the context window."""
    return error_body(400, f"prompt is too long: {requested} tokens > {context_window} maximum")


def quota_error() -> dict[str, Any]:
    """Return the 400 body Anthropic sends when the account has no credit left."""
    return error_body(
        400,
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
    )


def _sse(event: str, payload: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(payload)}\n\n".encode()


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Return an Anthropic error object; unlisted 5xx map to "api_error", 4xx to
    "invalid_request_error"."""
    default_type = "api_error" if status >= 500 else "invalid_request_error"
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, default_type), "message": message},
    }


def rate_limit_headers(state: RateLimitState) -> dict[str, str]:
    """Return the `anthropic-ratelimit-*` headers; reset values are RFC 3339 UTC times."""
    headers: dict[str, str] = {}
    now = time.time()
    if state.request_limit is not None:
        headers["anthropic-ratelimit-requests-limit"] = str(state.request_limit)
        headers["anthropic-ratelimit-requests-remaining"] = str(state.requests_remaining)
        headers["anthropic-ratelimit-requests-reset"] = _timestamp(now + state.requests_reset_seconds)
    if state.token_limit is not None:
        headers["anthropic-ratelimit-tokens-limit"] = str(state.token_limit)
        headers["anthropic-ratelimit-tokens-remaining"] = str(state.tokens_remaining)
        headers["anthropic-ratelimit-tokens-reset"] = _timestamp(now + state.tokens_reset_seconds)
    return headers


def _timestamp(epoch_seconds: float) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")
