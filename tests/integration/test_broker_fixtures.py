"""The test API that InMemoryBroker and KafkaTestBroker share, checked on both brokers.

Each test takes the ``any_broker`` fixture, which is the in-memory broker or the real one,
so a difference in behaviour between the two fails the same test.
"""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import pytest
from pydantic import BaseModel

from llm_kafka import BaseProcessor, Pipeline, PipelineSettings, ProcessingContext
from llm_kafka.testing import FakeLLM, InMemoryBroker, KafkaTestBroker

AnyBroker = InMemoryBroker | KafkaTestBroker


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
def any_broker(request: pytest.FixtureRequest) -> AnyBroker:
    broker: AnyBroker = request.getfixturevalue(f"{request.param}_broker")
    return broker


def test_send_and_records_round_trip(any_broker: AnyBroker) -> None:
    topic = any_broker.new_topic("round-trip")

    sent = any_broker.send(topic, {"id": "1"}, key="k", headers={"trace": "t-1"}, timestamp_ms=1_700_000_000_000)
    [record] = any_broker.records(topic)

    assert (record.topic, record.partition, record.offset) == (sent.topic, sent.partition, sent.offset)
    assert record.key == b"k"
    assert record.json() == {"id": "1"}
    assert record.header("trace") == b"t-1"
    assert record.timestamp_ms == 1_700_000_000_000


def test_keys_land_on_same_partitions(any_broker: AnyBroker) -> None:
    topic = any_broker.new_topic("keys", partitions=4)

    partitions = {f"key-{i}": any_broker.send(topic, b"v", key=f"key-{i}").partition for i in range(12)}

    assert partitions == {key: zlib.crc32(key.encode()) % 4 for key in partitions}


def test_end_offsets_count_records_per_partition(any_broker: AnyBroker) -> None:
    topic = any_broker.new_topic("ends", partitions=2)
    for _ in range(3):
        any_broker.send(topic, b"v", partition=1)

    assert any_broker.end_offsets(topic) == {0: 0, 1: 3}
    assert [record.offset for record in any_broker.records(topic)] == [0, 1, 2]


def test_committed_is_empty_for_new_group(any_broker: AnyBroker) -> None:
    topic = any_broker.new_topic("commits")
    any_broker.send(topic, b"v")

    assert any_broker.committed("group-without-commits", topic) == {}


def test_records_of_empty_topic_is_empty(any_broker: AnyBroker) -> None:
    topic = any_broker.new_topic("empty", partitions=3)

    assert any_broker.records(topic) == []


class Classify(BaseProcessor):
    name = "classify"

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        assert context.llm is not None
        return (await context.llm.astructured(str(data), Verdict)).model_dump()


class Verdict(BaseModel):
    sentiment: str


def test_pipeline_settles_on_either_broker(any_broker: AnyBroker) -> None:
    reviews = any_broker.new_topic("reviews", partitions=2)
    verdicts = any_broker.new_topic("verdicts")
    dead = any_broker.new_topic("verdicts-dlq")
    for i in range(10):
        any_broker.send(reviews, {"id": f"r{i}", "content": f"review {i}"}, key=f"user-{i}")
    any_broker.send(reviews, b"not json", key="bad")
    group = f"classifier-{uuid.uuid4().hex[:8]}"
    fake = FakeLLM(lambda request: {"sentiment": "positive"})
    pipeline = Pipeline(
        Classify(),
        transport=any_broker.transport(group),
        settings=PipelineSettings(
            input_topics=[reviews], output_topic=verdicts, dead_letter_topic=dead, commit_interval_s=0.2
        ),
        llm=fake.client(),
    )

    run = any_broker.run_until_settled(pipeline, timeout_s=60)

    assert sorted(value["id"] for value in run.output_values()) == sorted(f"r{i}" for i in range(10))
    assert {value["result"]["sentiment"] for value in run.output_values()} == {"positive"}
    assert [record.key for record in run.dead_letters] == [b"bad"]
    assert any_broker.committed(group, reviews) == any_broker.end_offsets(reviews)
    assert fake.calls == 10
