"""Running modes and edge cases of a pipeline on the real broker."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from llm_kafka import (
    BaseProcessor,
    ConfigurationError,
    KafkaSettings,
    MessageFormat,
    Pipeline,
    PipelineSettings,
    ProcessingContext,
)
from llm_kafka.kafka import dead_letter as dlq

from .kafka_io import is_settled, produce, read_all, run_until_settled
from .processors import EchoProcessor

pytestmark = pytest.mark.kafka


def topics_for(new_topic: Callable[..., str]) -> dict[str, str]:
    return {
        "input": new_topic("in"),
        "output": new_topic("out"),
        "dlq": new_topic("dlq"),
    }


def pipeline_settings(topics: dict[str, str]) -> PipelineSettings:
    return PipelineSettings(
        input_topics=[topics["input"]],
        output_topic=topics["output"],
        dead_letter_topic=topics["dlq"],
        commit_interval_s=0.5,
    )


def test_arun_runs_inside_application_loop(
    bootstrap_servers: str, new_topic: Callable[..., str]
) -> None:
    topics = topics_for(new_topic)
    produce(
        bootstrap_servers,
        topics["input"],
        [
            (None, json.dumps({"id": str(i), "content": "abc"}).encode())
            for i in range(5)
        ],
    )
    loops: list[asyncio.AbstractEventLoop] = []

    class LoopRecorder(BaseProcessor):
        async def process(self, data: Any, context: ProcessingContext) -> Any:
            loops.append(asyncio.get_running_loop())
            return data

    pipeline = Pipeline(
        LoopRecorder(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id="g-arun"),
        settings=pipeline_settings(topics),
    )

    async def application() -> asyncio.AbstractEventLoop:
        task = asyncio.create_task(pipeline.arun())
        for _ in range(300):
            if is_settled(pipeline, 5):
                break
            await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return asyncio.get_running_loop()

    app_loop = asyncio.run(application())

    assert len(loops) == 5
    assert all(loop is app_loop for loop in loops)
    assert len(read_all(bootstrap_servers, topics["output"], 5)) == 5


class Order(BaseModel):
    order_id: str
    kind: str
    text: str


class OrderFormat(MessageFormat[Order]):
    input_model = Order

    def route(self, message: Any) -> str:
        return str(message.kind)

    def message_id(self, message: Any) -> str | None:
        return str(message.order_id)

    def build_output(self, message: Any, result: Any, metadata: dict[str, Any]) -> Any:
        return {
            "order": message.order_id,
            "answer": result,
            "by": metadata["processor"],
        }


class Shout(BaseProcessor):
    def preprocess(self, message: Any, context: ProcessingContext) -> Any:
        return message.text

    def process(self, data: Any, context: ProcessingContext) -> Any:
        return data.upper()


def test_custom_format_routes_and_shapes_output(
    bootstrap_servers: str, new_topic: Callable[..., str]
) -> None:
    topics = topics_for(new_topic)
    records = [
        (b"1", json.dumps({"order_id": "o1", "kind": "shout", "text": "hi"}).encode()),
        (
            b"2",
            json.dumps({"order_id": "o2", "kind": "unknown", "text": "hi"}).encode(),
        ),
        (b"3", json.dumps({"order_id": "o3", "text": "no kind"}).encode()),
    ]
    produce(bootstrap_servers, topics["input"], records)
    pipeline = Pipeline(
        {"shout": Shout()},
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id="g-format"),
        settings=pipeline_settings(topics),
        message_format=OrderFormat(),
    )
    run_until_settled(pipeline, 3)

    outputs = read_all(bootstrap_servers, topics["output"], 1)
    dead = {r.key: r for r in read_all(bootstrap_servers, topics["dlq"], 2)}
    assert [json.loads(r.value) for r in outputs] == [
        {"order": "o1", "answer": "HI", "by": "Shout"}
    ]
    assert set(dead) == {b"2", b"3"}
    assert dead[b"2"].headers[dlq.HEADER_MESSAGE_ID] == b"o2"
    assert b"kind" in dead[b"3"].headers[dlq.HEADER_ERROR_MESSAGE]


class Huge(BaseProcessor):
    def process(self, data: Any, context: ProcessingContext) -> Any:
        return "x" * 50_000 if data == "big" else data


def test_output_over_producer_limit_goes_to_dead_letter(
    bootstrap_servers: str, new_topic: Callable[..., str]
) -> None:
    topics = topics_for(new_topic)
    records = [
        (b"small", json.dumps({"id": "s", "content": "ok"}).encode()),
        (b"big", json.dumps({"id": "b", "content": "big"}).encode()),
    ]
    produce(bootstrap_servers, topics["input"], records)
    pipeline = Pipeline(
        Huge(),
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap_servers,
            group_id="g-huge",
            producer={"message.max.bytes": 20_000},
        ),
        settings=pipeline_settings(topics),
    )
    run_until_settled(pipeline, 2)

    dead = read_all(bootstrap_servers, topics["dlq"], 1)
    assert [r.key for r in read_all(bootstrap_servers, topics["output"], 1)] == [
        b"small"
    ]
    assert [r.key for r in dead] == [b"big"]
    assert dead[0].headers[dlq.HEADER_ERROR_TYPE] == b"OutputTooLargeError"
    assert dead[0].value == records[1][1]


def test_missing_output_topic_fails_at_start(
    bootstrap_servers: str, new_topic: Callable[..., str]
) -> None:
    topics = {**topics_for(new_topic), "output": "no-such-topic-for-llm-kafka"}
    pipeline = Pipeline(
        EchoProcessor(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id="g-missing"),
        settings=pipeline_settings(topics),
    )

    with pytest.raises(ConfigurationError, match="no-such-topic-for-llm-kafka"):
        pipeline.run()


def test_auto_commit_setting_is_rejected_at_construction(
    bootstrap_servers: str,
) -> None:
    with pytest.raises(ConfigurationError, match="enable.auto.commit"):
        Pipeline(
            EchoProcessor(),
            kafka=KafkaSettings(
                bootstrap_servers=bootstrap_servers,
                group_id="g",
                consumer={"enable.auto.commit": True},
            ),
            settings=PipelineSettings(
                input_topics=["a"], output_topic="b", dead_letter_topic="c"
            ),
        )


class Sleepy(BaseProcessor):
    async def process(self, data: Any, context: ProcessingContext) -> Any:
        if data == "slow":
            await asyncio.sleep(30)
        return data


def test_message_over_timeout_goes_to_dead_letter(
    bootstrap_servers: str, new_topic: Callable[..., str]
) -> None:
    topics = topics_for(new_topic)
    records = [
        (b"slow", json.dumps({"id": "s", "content": "slow"}).encode()),
        (b"fast", json.dumps({"id": "f", "content": "fast"}).encode()),
    ]
    produce(bootstrap_servers, topics["input"], records)
    settings = pipeline_settings(topics).model_copy(update={"message_timeout_s": 1.0})
    pipeline = Pipeline(
        Sleepy(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id="g-timeout"),
        settings=settings,
    )
    run_until_settled(pipeline, 2)

    dead = read_all(bootstrap_servers, topics["dlq"], 1)
    assert [r.key for r in dead] == [b"slow"]
    assert dead[0].headers[dlq.HEADER_ERROR_TYPE] == b"TimeoutError"
    assert [r.key for r in read_all(bootstrap_servers, topics["output"], 1)] == [
        b"fast"
    ]
