"""Tests of the local LLM server through the official openai and anthropic SDKs."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from enum import Enum
from typing import Any, Literal

import anthropic
import openai
import pytest
from pydantic import BaseModel, Field, ValidationError

from llm_kafka.testing.llm_server import (
    MALFORMED_PROSE,
    FaultSettings,
    LocalLLMServer,
    SchemaError,
    embedding_vector,
    estimate_tokens,
    expected_chat_answer,
    generate_from_schema,
)
from llm_kafka.testing.llm_server.__main__ import build_parser, settings_from_arguments

MODEL = "local-chat"


class Color(str, Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    city: str
    zip_code: str = Field(min_length=5, max_length=5)


class Order(BaseModel):
    order_id: int = Field(ge=1, le=10)
    total: float = Field(gt=0, lt=1000)
    priority: Literal["low", "high"]
    color: Color
    paid: bool
    tags: list[str] = Field(max_length=3)
    address: Address
    backup_address: Address | None
    note: str | None = None
    created: datetime


class Ticket(BaseModel):
    """Model without length limits, because the anthropic SDK's `output_format` transform moves
    minLength and maxLength into the description, where the server cannot see them."""

    title: str
    priority: Literal["low", "high"]
    count: int


class TreeNode(BaseModel):
    name: str
    children: list[TreeNode]
    parent: TreeNode | None = None


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer() as server:
        yield server


@pytest.fixture()
def server(shared_server: LocalLLMServer) -> LocalLLMServer:
    shared_server.replace_settings(FaultSettings())
    shared_server.reset()
    return shared_server


@pytest.fixture()
def openai_client(server: LocalLLMServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_base_url, api_key="local", max_retries=0, timeout=10)


@pytest.fixture()
def anthropic_client(server: LocalLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="local", max_retries=0, timeout=10)


def ask_openai(client: openai.OpenAI, prompt: str, **options: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}], **options)


def ask_anthropic(client: anthropic.Anthropic, prompt: str, **options: Any) -> Any:
    options.setdefault("max_tokens", 512)
    return client.messages.create(model=MODEL, messages=[{"role": "user", "content": prompt}], **options)


def http_request(server: LocalLLMServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# Deterministic answers.


def test_expected_chat_answer_follows_documented_rule() -> None:
    prompt = "one two three four five six seven eight nine"
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]

    assert expected_chat_answer(prompt) == f"local-llm {digest} words=9: one two three four five six seven eight ..."
    assert expected_chat_answer("") == f"local-llm {hashlib.sha256(b'').hexdigest()[:12]} words=0"


def test_openai_chat_returns_rule_answer_and_usage(
    openai_client: openai.OpenAI,
) -> None:
    prompt = "Summarise order 42 for the customer"
    completion = ask_openai(openai_client, prompt)
    expected = expected_chat_answer(prompt)

    assert completion.choices[0].message.content == expected
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == MODEL
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == estimate_tokens(prompt)
    assert completion.usage.completion_tokens == math.ceil(len(expected) / 4)
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens


def test_openai_chat_uses_last_user_message(openai_client: openai.OpenAI) -> None:
    messages: Any = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": [{"type": "text", "text": "second question"}]},
    ]
    completion = openai_client.chat.completions.create(model=MODEL, messages=messages)

    assert completion.choices[0].message.content == expected_chat_answer("second question")


def test_openai_max_tokens_truncates_with_length(openai_client: openai.OpenAI) -> None:
    completion = ask_openai(openai_client, "a long enough prompt", max_tokens=2)

    assert completion.choices[0].message.content == expected_chat_answer("a long enough prompt")[:8]
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


def test_openai_json_schema_validates_with_model(openai_client: openai.OpenAI) -> None:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "Order", "schema": Order.model_json_schema()},
    }
    first = ask_openai(openai_client, "make an order", response_format=response_format)
    second = ask_openai(openai_client, "make an order", response_format=response_format)

    order = Order.model_validate_json(first.choices[0].message.content or "")
    assert order.address.zip_code and len(order.address.zip_code) == 5
    assert first.choices[0].message.content == second.choices[0].message.content


def test_openai_parse_helper_returns_model(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "parse me"}],
        response_format=Address,
    )

    assert isinstance(completion.choices[0].message.parsed, Address)


def test_openai_forced_tool_returns_valid_arguments(
    openai_client: openai.OpenAI,
) -> None:
    completion = ask_openai(
        openai_client,
        "call the tool",
        tools=[openai.pydantic_function_tool(Order, name="record_order")],
        tool_choice={"type": "function", "function": {"name": "record_order"}},
    )
    message = completion.choices[0].message

    assert message.content is None
    assert message.tool_calls is not None
    assert message.tool_calls[0].function.name == "record_order"
    Order.model_validate_json(message.tool_calls[0].function.arguments)


def test_openai_json_object_format_returns_object(openai_client: openai.OpenAI) -> None:
    completion = ask_openai(openai_client, "json please", response_format={"type": "json_object"})
    value = json.loads(completion.choices[0].message.content or "")

    assert value == {"answer": expected_chat_answer("json please"), "word_count": 2}


def test_openai_stream_joins_to_rule_answer(openai_client: openai.OpenAI) -> None:
    stream = ask_openai(
        openai_client,
        "stream this answer",
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    finish_reasons: list[str] = []
    usage_seen = False
    for chunk in stream:
        if chunk.usage is not None:
            usage_seen = True
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            if choice.finish_reason:
                finish_reasons.append(choice.finish_reason)

    assert "".join(pieces) == expected_chat_answer("stream this answer")
    assert finish_reasons == ["stop"]
    assert usage_seen


def test_openai_stream_tool_call_arguments(openai_client: openai.OpenAI) -> None:
    with openai_client.chat.completions.stream(
        model=MODEL,
        messages=[{"role": "user", "content": "stream a tool call"}],
        tools=[openai.pydantic_function_tool(Address)],
        tool_choice={"type": "function", "function": {"name": "Address"}},
    ) as stream:
        completion = stream.get_final_completion()

    tool_calls = completion.choices[0].message.tool_calls
    assert tool_calls is not None
    Address.model_validate_json(tool_calls[0].function.arguments)


def test_anthropic_message_returns_rule_answer(
    anthropic_client: anthropic.Anthropic,
) -> None:
    prompt = "Summarise order 42 for the customer"
    message = ask_anthropic(anthropic_client, prompt, system="be brief")

    assert message.type == "message"
    assert message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == expected_chat_answer(prompt)
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == estimate_tokens("be brief") + estimate_tokens(prompt)
    assert message.usage.output_tokens == estimate_tokens(expected_chat_answer(prompt))


def test_anthropic_max_tokens_sets_stop_reason(
    anthropic_client: anthropic.Anthropic,
) -> None:
    message = ask_anthropic(anthropic_client, "cut this short", max_tokens=1)

    assert message.stop_reason == "max_tokens"
    assert message.content[0].text == expected_chat_answer("cut this short")[:4]


def test_anthropic_forced_tool_input_validates(
    anthropic_client: anthropic.Anthropic,
) -> None:
    tool: Any = {
        "name": "record_order",
        "description": "Record an order",
        "input_schema": Order.model_json_schema(),
    }
    message = ask_anthropic(
        anthropic_client,
        "record it",
        tools=[tool],
        tool_choice={"type": "tool", "name": "record_order"},
    )
    block = message.content[0]

    assert block.type == "tool_use"
    assert block.name == "record_order"
    assert message.stop_reason == "tool_use"
    Order.model_validate(block.input)


def test_anthropic_output_format_parses_model(
    anthropic_client: anthropic.Anthropic,
) -> None:
    message = anthropic_client.messages.parse(
        model=MODEL,
        max_tokens=512,
        messages=[{"role": "user", "content": "structured text"}],
        output_format=Ticket,
    )

    assert isinstance(message.parsed_output, Ticket)
    assert message.content[0].type == "text"


def test_anthropic_stream_text_matches_rule(
    anthropic_client: anthropic.Anthropic,
) -> None:
    with anthropic_client.messages.stream(
        model=MODEL,
        max_tokens=512,
        messages=[{"role": "user", "content": "stream please"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == expected_chat_answer("stream please")
    assert final.stop_reason == "end_turn"


def test_anthropic_stream_tool_use_input(anthropic_client: anthropic.Anthropic) -> None:
    tool: Any = {"name": "address", "input_schema": Address.model_json_schema()}
    with anthropic_client.messages.stream(
        model=MODEL,
        max_tokens=512,
        messages=[{"role": "user", "content": "stream a tool"}],
        tools=[tool],
        tool_choice={"type": "tool", "name": "address"},
    ) as stream:
        final = stream.get_final_message()

    block = final.content[0]
    assert block.type == "tool_use"
    Address.model_validate(block.input)


def test_embeddings_deterministic_and_sized(openai_client: openai.OpenAI) -> None:
    first = openai_client.embeddings.create(model="local-embedding", input=["alpha", "beta"])
    second = openai_client.embeddings.create(model="local-embedding", input="alpha", dimensions=16)
    as_floats = openai_client.embeddings.create(model="local-embedding", input="alpha", encoding_format="float")

    assert len(first.data) == 2
    assert len(first.data[0].embedding) == 64
    assert len(second.data[0].embedding) == 16
    assert first.data[0].embedding == pytest.approx(embedding_vector("alpha"), abs=1e-6)
    assert as_floats.data[0].embedding == pytest.approx(embedding_vector("alpha"))
    assert first.data[0].embedding != first.data[1].embedding
    assert math.fsum(value * value for value in second.data[0].embedding) == pytest.approx(1.0, abs=1e-5)


def test_embeddings_base64_packs_float32(server: LocalLLMServer) -> None:
    status, body = http_request(
        server,
        "POST",
        "/v1/embeddings",
        {"model": "m", "input": "alpha", "encoding_format": "base64"},
    )
    raw = base64.b64decode(body["data"][0]["embedding"])
    values = struct.unpack(f"<{len(raw) // 4}f", raw)

    assert status == 200
    assert list(values) == pytest.approx(embedding_vector("alpha"), abs=1e-6)


def test_models_route_lists_models(openai_client: openai.OpenAI) -> None:
    model_ids = [model.id for model in openai_client.models.list()]

    assert "local-chat" in model_ids


# Faults and limits.


def test_openai_rate_limit_returns_429_with_headers(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(requests_per_minute=2)
    success = openai_client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "one"}]
    )
    ask_openai(openai_client, "two")

    with pytest.raises(openai.RateLimitError) as raised:
        ask_openai(openai_client, "three")

    headers = raised.value.response.headers
    assert success.headers["x-ratelimit-limit-requests"] == "2"
    assert success.headers["x-ratelimit-remaining-requests"] == "1"
    assert int(headers["retry-after"]) >= 1
    assert 0 < int(headers["retry-after-ms"]) <= 60_000
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert raised.value.status_code == 429
    assert server.stats().rate_limited == 1


def test_anthropic_rate_limit_headers(server: LocalLLMServer, anthropic_client: anthropic.Anthropic) -> None:
    server.configure(requests_per_minute=1, tokens_per_minute=10_000)
    success = anthropic_client.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    )

    with pytest.raises(anthropic.RateLimitError) as raised:
        ask_anthropic(anthropic_client, "again")

    assert success.headers["anthropic-ratelimit-requests-limit"] == "1"
    assert success.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert success.headers["anthropic-ratelimit-tokens-limit"] == "10000"
    assert success.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert raised.value.response.headers["retry-after"] == "60"
    assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_rate_limit_window_admits_again(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(requests_per_minute=1, window_seconds=0.3)
    ask_openai(openai_client, "first")
    with pytest.raises(openai.RateLimitError):
        ask_openai(openai_client, "second")

    time.sleep(0.35)

    assert ask_openai(openai_client, "third").choices[0].message.content == expected_chat_answer("third")


def test_token_limit_rejects_when_window_full(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(tokens_per_minute=20)
    ask_openai(openai_client, "x" * 40)

    with pytest.raises(openai.RateLimitError) as raised:
        ask_openai(openai_client, "y" * 40)

    assert raised.value.response.headers["x-ratelimit-limit-tokens"] == "20"


def test_openai_marker_500_raises_internal_server_error(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})

    with pytest.raises(openai.InternalServerError) as raised:
        ask_openai(openai_client, "please LLMFAIL500 now")

    assert raised.value.status_code == 500
    assert raised.value.body["type"] == "server_error"  # type: ignore[index]
    assert ask_openai(openai_client, "no marker").choices[0].message.content == expected_chat_answer("no marker")


def test_marker_429_sends_retry_after(server: LocalLLMServer, anthropic_client: anthropic.Anthropic) -> None:
    server.configure(fail_marker={"LLMFAIL429": 429})

    with pytest.raises(anthropic.RateLimitError) as raised:
        ask_anthropic(anthropic_client, "LLMFAIL429")

    assert raised.value.response.headers["retry-after"] == "1"


def test_anthropic_overloaded_raises_529(server: LocalLLMServer, anthropic_client: anthropic.Anthropic) -> None:
    server.configure(overloaded_rate=1.0)

    with pytest.raises(anthropic.APIStatusError) as raised:
        ask_anthropic(anthropic_client, "busy?")

    assert raised.value.status_code == 529
    assert isinstance(raised.value, anthropic.InternalServerError)
    assert raised.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_openai_529_when_listed_in_error_statuses(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(error_rate=1.0, error_statuses=(529,))

    with pytest.raises(openai.InternalServerError) as raised:
        ask_openai(openai_client, "busy?")

    assert raised.value.status_code == 529


def test_overloaded_rate_skips_openai_route(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(overloaded_rate=1.0)

    assert ask_openai(openai_client, "fine").choices[0].finish_reason == "stop"


def test_fail_first_n_then_succeeds(server: LocalLLMServer, anthropic_client: anthropic.Anthropic) -> None:
    server.configure(fail_first_n=2, fail_first_status=503)

    for _ in range(2):
        with pytest.raises(anthropic.InternalServerError) as raised:
            ask_anthropic(anthropic_client, "retry me")
        assert raised.value.status_code == 503

    assert ask_anthropic(anthropic_client, "retry me").stop_reason == "end_turn"


def test_error_rate_is_reproducible_with_seed(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    def run() -> list[int]:
        server.configure(error_rate=0.5, seed=7)
        statuses = []
        for index in range(12):
            try:
                ask_openai(openai_client, f"request {index}")
                statuses.append(200)
            except openai.InternalServerError as error:
                statuses.append(error.status_code)
        return statuses

    first = run()
    second = run()

    assert first == second
    assert 200 in first
    assert set(first) - {200} <= {500, 503}
    assert len(set(first)) > 1


def test_hang_times_out_then_server_serves(server: LocalLLMServer) -> None:
    server.configure(hang_marker="LLMHANG", hang_seconds=2.0)
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="local", max_retries=0, timeout=0.5)

    with pytest.raises(openai.APITimeoutError):
        ask_openai(client, "LLMHANG please")

    assert ask_openai(client, "after the hang").choices[0].message.content == expected_chat_answer("after the hang")
    assert server.stats().hangs == 1


def test_stop_ends_hung_request_early() -> None:
    server = LocalLLMServer(hang_rate=1.0, hang_seconds=20.0).start()
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="local", max_retries=0, timeout=0.3)
    with pytest.raises(openai.APIConnectionError):
        ask_openai(client, "hang")

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 3.0


def test_malformed_marker_breaks_json(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(malformed_marker="LLMBADJSON")
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "Order", "schema": Order.model_json_schema()},
    }

    completion = ask_openai(openai_client, "LLMBADJSON order", response_format=response_format)

    with pytest.raises(json.JSONDecodeError):
        json.loads(completion.choices[0].message.content or "")
    with pytest.raises(ValidationError):
        Order.model_validate_json(completion.choices[0].message.content or "")
    assert server.stats().malformed == 1


def test_malformed_plain_answer_is_prose(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(malformed_rate=1.0)

    assert ask_openai(openai_client, "anything").choices[0].message.content == MALFORMED_PROSE


def test_malformed_anthropic_tool_becomes_text(server: LocalLLMServer, anthropic_client: anthropic.Anthropic) -> None:
    server.configure(malformed_rate=1.0)
    tool: Any = {"name": "address", "input_schema": Address.model_json_schema()}

    message = ask_anthropic(
        anthropic_client,
        "tool",
        tools=[tool],
        tool_choice={"type": "tool", "name": "address"},
    )

    assert message.content[0].type == "text"
    with pytest.raises(json.JSONDecodeError):
        json.loads(message.content[0].text)


def test_latency_delays_answer(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(latency=0.3)

    started = time.monotonic()
    ask_openai(openai_client, "slow")

    assert time.monotonic() - started >= 0.3


def test_latency_range_delays_within_bounds(server: LocalLLMServer, anthropic_client: anthropic.Anthropic) -> None:
    server.configure(latency=(0.1, 0.2), seed=3)

    started = time.monotonic()
    ask_anthropic(anthropic_client, "slow")

    assert time.monotonic() - started >= 0.1


# Stats and admin routes.


def test_stats_count_requests_and_tokens(
    server: LocalLLMServer,
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
) -> None:
    server.configure(fail_marker={"LLMFAIL500": 500})
    ask_openai(openai_client, "one")
    ask_anthropic(anthropic_client, "two")
    with pytest.raises(openai.InternalServerError):
        ask_openai(openai_client, "LLMFAIL500")

    stats = server.stats()

    assert stats.requests_total == 3
    assert stats.requests_by_endpoint == {
        "POST /v1/chat/completions": 2,
        "POST /v1/messages": 1,
    }
    assert stats.responses_by_status == {200: 2, 500: 1}
    assert stats.errors_injected == 1
    assert stats.recent_prompts == ["one", "two", "LLMFAIL500"]
    assert stats.input_tokens == 2
    assert stats.output_tokens == estimate_tokens(expected_chat_answer("one")) + estimate_tokens(
        expected_chat_answer("two")
    )


def test_recent_prompts_are_bounded() -> None:
    with LocalLLMServer(recent_prompts_limit=2) as server:
        client = openai.OpenAI(base_url=server.openai_base_url, api_key="local", max_retries=0, timeout=5)
        for prompt in ("a", "b", "c"):
            ask_openai(client, prompt)

        assert server.stats().recent_prompts == ["b", "c"]


def test_admin_stats_returns_json(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    ask_openai(openai_client, "count me")

    status, body = http_request(server, "GET", "/_admin/stats")

    assert status == 200
    assert body["requests_by_endpoint"]["POST /v1/chat/completions"] == 1
    assert body["responses_by_status"] == {"200": 1}


def test_admin_faults_replaces_settings(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(latency=0.5)

    status, body = http_request(server, "POST", "/_admin/faults", {"fail_marker": {"BOOM": 503}})

    assert status == 200
    assert server.settings.latency == 0.0
    assert server.settings.fail_marker == {"BOOM": 503}
    assert body["fail_marker"] == {"BOOM": 503}
    with pytest.raises(openai.InternalServerError) as raised:
        ask_openai(openai_client, "BOOM")
    assert raised.value.status_code == 503


def test_admin_faults_rejects_invalid_settings(server: LocalLLMServer) -> None:
    unknown_status, unknown_body = http_request(server, "POST", "/_admin/faults", {"latncy": 1})
    rate_status, rate_body = http_request(server, "POST", "/_admin/faults", {"error_rate": 2})

    assert unknown_status == 400
    assert "latncy" in unknown_body["error"]["message"]
    assert rate_status == 400
    assert "error_rate" in rate_body["error"]["message"]


def test_admin_reset_clears_stats_and_window(server: LocalLLMServer, openai_client: openai.OpenAI) -> None:
    server.configure(requests_per_minute=1)
    ask_openai(openai_client, "use the only slot")

    status, _ = http_request(server, "POST", "/_admin/reset", {})

    assert status == 200
    assert server.stats().requests_total == 0
    assert ask_openai(openai_client, "slot again").choices[0].finish_reason == "stop"


def test_unknown_route_returns_404_json(server: LocalLLMServer) -> None:
    status, body = http_request(server, "GET", "/v2/unknown")

    assert status == 404
    assert body["error"]["type"] == "not_found_error"
    assert "/v2/unknown" in body["error"]["message"]


def test_invalid_body_returns_400(server: LocalLLMServer, anthropic_client: anthropic.Anthropic) -> None:
    missing_status, missing_body = http_request(server, "POST", "/v1/messages", {"model": "m", "messages": []})

    assert missing_status == 400
    assert missing_body["type"] == "error"
    assert missing_body["error"]["type"] == "invalid_request_error"


# Construction and settings.


@pytest.mark.parametrize("host", ["0.0.0.0", "localhost", "::1", "10.0.0.1"])
def test_server_rejects_non_loopback_host(host: str) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        LocalLLMServer(host=host)


def test_configure_rejects_unknown_setting(server: LocalLLMServer) -> None:
    with pytest.raises(ValueError, match="unknown fault setting"):
        server.configure(latncy=1.0)


def test_fault_settings_reject_invalid_values() -> None:
    with pytest.raises(ValueError, match="hang_rate"):
        FaultSettings(hang_rate=1.5)
    with pytest.raises(ValueError, match="latency"):
        FaultSettings(latency=(0.5, 0.1))
    with pytest.raises(ValueError, match="error status"):
        FaultSettings(fail_marker={"X": 200})
    with pytest.raises(ValueError, match="empty marker"):
        FaultSettings(hang_marker="")


def test_port_before_start_raises() -> None:
    with pytest.raises(RuntimeError, match="start"):
        _ = LocalLLMServer().port


def test_cli_maps_options_to_settings() -> None:
    arguments = build_parser().parse_args(
        [
            "--port",
            "0",
            "--latency",
            "0.1,0.2",
            "--rpm",
            "600",
            "--fail-marker",
            "LLMFAIL500=500",
            "--error-status",
            "529",
        ]
    )
    settings = FaultSettings().replace(**settings_from_arguments(arguments))

    assert settings.latency == (0.1, 0.2)
    assert settings.requests_per_minute == 600
    assert settings.fail_marker == {"LLMFAIL500": 500}
    assert settings.error_statuses == (529,)


def test_cli_maps_provider_error_options() -> None:
    arguments = build_parser().parse_args(
        [
            "--refusal-marker",
            "LLMREFUSE",
            "--context-window",
            "4096",
            "--quota-exhausted",
            "--stream-overloaded-marker",
            "LLMSTREAM529",
        ]
    )
    settings = FaultSettings().replace(**settings_from_arguments(arguments))

    assert settings.refusal_marker == "LLMREFUSE"
    assert settings.context_window == 4096
    assert settings.quota_exhausted is True
    assert settings.stream_overloaded_marker == "LLMSTREAM529"


def test_invalid_context_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="context_window"):
        FaultSettings(context_window=0)


# Schema-driven values.


def test_schema_values_validate_nested_model() -> None:
    for seed_text in ("a", "b", "c", "d", "e"):
        Order.model_validate(generate_from_schema(Order.model_json_schema(), seed_text))


def test_schema_values_end_recursive_model() -> None:
    value = generate_from_schema(TreeNode.model_json_schema(), "tree")

    TreeNode.model_validate(value)


def test_schema_values_respect_bounds_and_enums() -> None:
    schema = {
        "type": "object",
        "properties": {
            "level": {"type": "integer", "minimum": 3, "maximum": 4},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "kind": {"enum": ["x", "y", "z"]},
            "items": {
                "type": "array",
                "items": {"type": "integer"},
                "minItems": 2,
                "maxItems": 2,
            },
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "mapping": {"type": "object", "additionalProperties": {"type": "boolean"}},
        },
    }
    values = [generate_from_schema(schema, str(index)) for index in range(20)]

    assert all(3 <= value["level"] <= 4 for value in values)
    assert all(0 < value["ratio"] < 1 for value in values)
    assert {value["kind"] for value in values} == {"x", "y", "z"}
    assert all(len(value["items"]) == 2 for value in values)
    assert all(isinstance(value["maybe"], str) for value in values)
    assert all(isinstance(value["mapping"]["key"], bool) for value in values)


def test_schema_values_are_deterministic() -> None:
    schema = Order.model_json_schema()

    assert generate_from_schema(schema, "same") == generate_from_schema(schema, "same")


def test_schema_values_reject_missing_ref() -> None:
    with pytest.raises(SchemaError, match="not found"):
        generate_from_schema({"$ref": "#/$defs/Missing"}, "x")


def test_listen_backlog_admits_many_connections_at_once() -> None:
    # socketserver's default backlog of 5 made a burst of 64 connections wait for SYN retries.
    with LocalLLMServer() as server:
        assert server._httpd is not None
        assert server._httpd.request_queue_size >= 64
