"""A real Pipeline on the in-memory transport: outputs, dead letters, commits and faults."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from llm_kafka import (
    BaseProcessor,
    CircuitBreaker,
    ConfigurationError,
    KafkaError,
    Pipeline,
    PipelineSettings,
    ProcessingContext,
    RetryPolicy,
)
from llm_kafka.kafka import dead_letter as dlq
from llm_kafka.observability.health import HealthState
from llm_kafka.testing import (
    FakeClock,
    FakeLLM,
    InMemoryBroker,
    InMemoryConsumer,
    InMemoryTransport,
    Malformed,
    RateLimited,
    Reply,
    ServerError,
)

GROUP = "memory-pipeline"


class Echo(BaseProcessor):
    name = "echo"

    def process(self, data: Any, context: ProcessingContext) -> Any:
        if data == "explode":
            raise ValueError("the test asked this processor to fail")
        return {"reversed": str(data)[::-1]}


class Verdict(BaseModel):
    sentiment: str


class Classify(BaseProcessor):
    name = "classify"

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        assert context.llm is not None
        return (await context.llm.astructured(str(data), Verdict)).model_dump()


@pytest.fixture
def broker() -> InMemoryBroker:
    broker = InMemoryBroker()
    broker.create_topic("in", partitions=3)
    broker.create_topic("out")
    broker.create_topic("dlq")
    return broker


def make_pipeline(broker: InMemoryBroker, processor: BaseProcessor, **options: Any) -> Pipeline:
    settings = PipelineSettings(
        input_topics=["in"], output_topic="out", dead_letter_topic="dlq", commit_interval_s=0.05
    )
    return Pipeline(processor, transport=broker.transport(GROUP), settings=settings, **options)


def send_messages(broker: InMemoryBroker, count: int) -> None:
    for i in range(count):
        broker.send("in", {"id": f"m{i}", "content": f"text {i}"}, key=f"k{i}", headers={"trace": f"t{i}"})


def test_every_input_settles_once(broker: InMemoryBroker) -> None:
    send_messages(broker, 30)
    broker.send("in", b"{not json", key="bad")
    broker.send("in", {"id": "boom", "content": "explode"}, key="boom")

    run = broker.run_until_settled(make_pipeline(broker, Echo()))

    assert len(run.outputs) == 30
    assert len(run.dead_letters) == 2
    assert sorted(value["id"] for value in run.output_values()) == sorted(f"m{i}" for i in range(30))
    assert broker.committed(GROUP, "in") == broker.end_offsets("in")


def test_output_keeps_key_and_result(broker: InMemoryBroker) -> None:
    send_messages(broker, 1)

    run = broker.run_until_settled(make_pipeline(broker, Echo()))

    [output] = run.outputs
    assert output.key == b"k0"
    assert output.json()["result"] == {"reversed": "0 txet"}
    assert output.header("trace") == b"t0"


def test_dead_letter_names_error_and_source(broker: InMemoryBroker) -> None:
    source = broker.send("in", b"{not json", key="bad", headers={"origin": "test"})

    run = broker.run_until_settled(make_pipeline(broker, Echo()))

    [dead] = run.dead_letters
    assert dead.value == b"{not json"
    assert dead.key == b"bad"
    assert dead.header("origin") == b"test"
    assert dead.header_text(dlq.HEADER_ERROR_TYPE) == "DeserializationError"
    assert dead.header_text(dlq.HEADER_SOURCE_PARTITION) == str(source.partition)
    assert dead.header_text(dlq.HEADER_SOURCE_OFFSET) == str(source.offset)


def test_rate_limited_call_is_retried(broker: InMemoryBroker) -> None:
    broker.send("in", {"id": "r1", "content": "Great"}, key="r1")
    fake = FakeLLM([RateLimited(retry_after=0.01), {"sentiment": "positive"}])
    llm = fake.client(retry_policy=RetryPolicy(max_attempts=3, base_delay=0.0))

    run = broker.run_until_settled(make_pipeline(broker, Classify(), llm=llm))

    assert run.output_values()[0]["result"] == {"sentiment": "positive"}
    assert fake.calls == 2


def test_malformed_output_is_dead_lettered(broker: InMemoryBroker) -> None:
    broker.send("in", {"id": "r1", "content": "Great"}, key="r1")
    llm = FakeLLM([Malformed('{"sentiment": ')] * 2, clock=FakeClock()).client()  # answer and repair

    run = broker.run_until_settled(make_pipeline(broker, Classify(), llm=llm))

    [dead] = run.dead_letters
    assert dead.header_text(dlq.HEADER_ERROR_TYPE) == "StructuredOutputError"
    assert dead.header_text(dlq.HEADER_RAW_OUTPUT) == '{"sentiment": '


def test_failed_commit_is_retried(broker: InMemoryBroker) -> None:
    send_messages(broker, 5)
    broker.fail_commits(GROUP, count=2)

    broker.run_until_settled(make_pipeline(broker, Echo()))

    assert broker.committed(GROUP, "in") == broker.end_offsets("in")


def test_failed_dead_letter_stops_pipeline(broker: InMemoryBroker) -> None:
    source = broker.send("in", b"{not json", key="bad")
    broker.fail_delivery("dlq")

    with pytest.raises(KafkaError, match="dead-letter"):
        broker.run_until_settled(make_pipeline(broker, Echo()), timeout_s=10)

    assert broker.committed(GROUP, "in").get(source.partition, 0) == source.offset


def test_two_pipelines_share_partitions(broker: InMemoryBroker) -> None:
    send_messages(broker, 60)
    first, second = make_pipeline(broker, Echo()), make_pipeline(broker, Echo())

    second.start()
    try:
        broker.run_until_settled(first, timeout_s=20)
    finally:
        second.stop(timeout=10)

    outputs = {json.loads(record.value or b"")["id"] for record in broker.records("out")}
    assert outputs == {f"m{i}" for i in range(60)}
    assert broker.committed(GROUP, "in") == broker.end_offsets("in")


def test_missing_topic_fails_start(broker: InMemoryBroker) -> None:
    settings = PipelineSettings(input_topics=["in"], output_topic="nowhere", dead_letter_topic="dlq")
    pipeline = Pipeline(Echo(), transport=broker.transport(GROUP), settings=settings)

    with pytest.raises(ConfigurationError, match="nowhere"):
        broker.run_until_settled(pipeline, timeout_s=10)


class SlowEcho(Echo):
    async def process(self, data: Any, context: ProcessingContext) -> Any:
        await asyncio.sleep(0.01)
        return super().process(data, context)


class PauseCountingTransport(InMemoryTransport):
    """Records every partition the pipeline pauses."""

    def __init__(self, broker: InMemoryBroker, group_id: str) -> None:
        super().__init__(broker, group_id)
        self.paused: list[tuple[str, int]] = []

    def consumer(self) -> InMemoryConsumer:
        consumer = super().consumer()
        pause = consumer.pause

        def counting_pause(partitions: Sequence[tuple[str, int]]) -> None:
            self.paused.extend(partitions)
            pause(partitions)

        consumer.pause = counting_pause  # type: ignore[method-assign]
        return consumer


def test_paused_partitions_still_settle(broker: InMemoryBroker) -> None:
    send_messages(broker, 40)
    settings = PipelineSettings(
        input_topics=["in"],
        output_topic="out",
        dead_letter_topic="dlq",
        commit_interval_s=0.05,
        max_in_flight=2,
        max_buffered=3,
    )
    transport = PauseCountingTransport(broker, GROUP)
    pipeline = Pipeline(SlowEcho(), transport=transport, settings=settings)

    run = broker.run_until_settled(pipeline, timeout_s=20)

    assert sorted(value["id"] for value in run.output_values()) == sorted(f"m{i}" for i in range(40))
    assert transport.paused, "the pipeline never paused a partition, so this test checks nothing"


def test_expelled_pipeline_rejoins_and_settles(broker: InMemoryBroker) -> None:
    send_messages(broker, 20)
    pipeline = make_pipeline(broker, SlowEcho())
    pipeline.start()
    try:
        assert wait_for(lambda: len(broker.records("out")) >= 5, 10.0)
        broker.expel_members(GROUP)
        assert wait_for(lambda: broker.lag(GROUP, "in") == {0: 0, 1: 0, 2: 0}, 20.0), broker.lag(GROUP, "in")
    finally:
        pipeline.stop(timeout=10)

    assert pipeline.error is None
    assert pipeline.metrics.snapshot().counter("rebalances.lost") >= 1
    outputs = {record.json()["id"] for record in broker.records("out")}
    assert outputs == {f"m{i}" for i in range(20)}


def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_output_metadata_sums_llm_usage(broker: InMemoryBroker) -> None:
    broker.send("in", {"id": "r1", "content": "Great"}, key="r1")
    script = [RateLimited(retry_after=0.01), Reply({"sentiment": "positive"}, input_tokens=7, output_tokens=3)]
    llm = FakeLLM(script).client(retry_policy=RetryPolicy(max_attempts=3, base_delay=0.0))

    run = broker.run_until_settled(make_pipeline(broker, Classify(), llm=llm))

    usage = run.output_values()[0]["metadata"]["llm_usage"]
    assert usage["input_tokens"] == 7
    assert usage["output_tokens"] == 3
    assert usage["llm_calls"] == 1


def test_provider_wide_failure_waits_instead_of_dead_lettering(broker: InMemoryBroker) -> None:
    broker.send("in", {"id": "r1", "content": "Great"}, key="r1")
    fake = FakeLLM([ServerError(401), {"sentiment": "positive"}])
    llm = fake.client(circuit_breaker=CircuitBreaker("fake", recovery_timeout=0.2))
    pipeline = make_pipeline(broker, Classify(), llm=llm)

    run = broker.run_until_settled(pipeline, timeout_s=30)

    assert run.dead_letters == []
    assert run.output_values()[0]["result"] == {"sentiment": "positive"}
    assert pipeline.metrics.snapshot().counter("messages.retried") == 1
    assert fake.calls == 2


def test_pipeline_reports_health(broker: InMemoryBroker) -> None:
    send_messages(broker, 3)
    health = HealthState(liveness_timeout_s=5)
    pipeline = make_pipeline(broker, Echo(), health=health)

    assert health.readiness().ok is False
    broker.run_until_settled(pipeline)

    assert health.liveness().ok is True
    assert health.readiness().ok is False  # stopped after settling
    assert any("stop" in reason for reason in health.readiness().reasons)


def test_metrics_report_lag_duration_and_delivery_failures(broker: InMemoryBroker) -> None:
    broker.send("in", {"id": "m0", "content": "text"}, key="k0")
    broker.fail_delivery("out", count=1, retryable=False)
    pipeline = make_pipeline(broker, Echo())

    run = broker.run_until_settled(pipeline)

    snapshot = pipeline.metrics.snapshot()
    [source] = [partition for partition, end in broker.end_offsets("in").items() if end > 0]
    assert len(run.dead_letters) == 1
    assert snapshot.counter("producer.delivery_failures") == 1
    assert len(snapshot.gauge_series["consumer.lag"]) == 1  # recorded for the one partition with data
    assert snapshot.gauge("consumer.lag", {"topic": "in", "partition": source}) == 0
    assert snapshot.timers["processing.duration"].count == 1
