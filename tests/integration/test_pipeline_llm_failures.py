"""LLM failures inside a pipeline on the real broker: retried, then dead-lettered with details."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from llm_kafka import (
    BaseProcessor,
    KafkaSettings,
    LLMClient,
    Pipeline,
    PipelineSettings,
    ProcessingContext,
    RetryPolicy,
)
from llm_kafka.kafka import dead_letter as dlq
from llm_kafka.testing.llm_server import LocalLLMServer

from .kafka_io import produce, read_all, run_until_settled
from .processors import LLMEchoProcessor

pytestmark = pytest.mark.kafka


class Label(BaseModel):
    label: str


class StructuredProcessor(BaseProcessor):
    async def process(self, data: Any, context: ProcessingContext) -> Any:
        assert context.llm is not None
        return (await context.llm.astructured(str(data), Label)).model_dump()


@pytest.fixture
def llm_server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(fail_marker={"LLMFAIL500": 500, "LLMFAIL400": 400}, malformed_marker="LLMBROKEN") as server:
        yield server


def run_pipeline(
    bootstrap: str,
    processor: BaseProcessor,
    server: LocalLLMServer,
    topics: dict[str, str],
    expected: int,
) -> Pipeline:
    llm = LLMClient(
        "openai",
        "local-model",
        api_key="local",
        base_url=server.openai_base_url,
        retry_policy=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02),
    )
    pipeline = Pipeline(
        processor,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"g-{topics['input']}"),
        settings=PipelineSettings(
            input_topics=[topics["input"]],
            output_topic=topics["output"],
            dead_letter_topic=topics["dlq"],
        ),
        llm=llm,
    )
    run_until_settled(pipeline, expected)
    return pipeline


def test_llm_errors_are_retried_then_dead_lettered(
    bootstrap_servers: str, new_topic: Callable[..., str], llm_server: LocalLLMServer
) -> None:
    topics = {
        "input": new_topic("in"),
        "output": new_topic("out"),
        "dlq": new_topic("dlq"),
    }
    contents = {
        "ok": "a fine prompt",
        "server": "LLMFAIL500 prompt",
        "client": "LLMFAIL400 prompt",
    }
    produce(
        bootstrap_servers,
        topics["input"],
        [(k.encode(), json.dumps({"id": k, "content": v}).encode()) for k, v in contents.items()],
    )

    run_pipeline(bootstrap_servers, LLMEchoProcessor(), llm_server, topics, 3)

    dead = {r.key: r for r in read_all(bootstrap_servers, topics["dlq"], 2)}
    assert [r.key for r in read_all(bootstrap_servers, topics["output"], 1)] == [b"ok"]
    assert dead[b"server"].headers[dlq.HEADER_ERROR_TYPE] == b"ProviderServerError"
    assert dead[b"server"].headers[dlq.HEADER_ATTEMPTS] == b"3"
    assert dead[b"client"].headers[dlq.HEADER_ERROR_TYPE] == b"InvalidRequestError"
    assert dead[b"client"].headers[dlq.HEADER_ATTEMPTS] == b"1"
    assert llm_server.stats().to_dict()["requests_total"] == 1 + 3 + 1


def test_invalid_structured_output_keeps_raw_output(
    bootstrap_servers: str, new_topic: Callable[..., str], llm_server: LocalLLMServer
) -> None:
    # Every answer is malformed, so the repair attempt fails too and the message is dead-lettered.
    llm_server.configure(malformed_rate=1.0)
    topics = {
        "input": new_topic("in"),
        "output": new_topic("out"),
        "dlq": new_topic("dlq"),
    }
    produce(
        bootstrap_servers,
        topics["input"],
        [(b"bad", json.dumps({"id": "bad", "content": "LLMBROKEN"}).encode())],
    )

    run_pipeline(bootstrap_servers, StructuredProcessor(), llm_server, topics, 1)

    dead = read_all(bootstrap_servers, topics["dlq"], 1)
    assert len(dead) == 1
    assert dead[0].headers[dlq.HEADER_ERROR_TYPE] == b"StructuredOutputError"
    assert dead[0].headers[dlq.HEADER_RAW_OUTPUT]
    assert dead[0].headers[dlq.HEADER_ATTEMPTS] == b"2"
