"""The concurrent engine on the real broker: slow calls, ordering under retries, back-pressure."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from llm_kafka import BaseProcessor, CircuitBreaker, KafkaSettings, LLMClient, Pipeline, PipelineSettings, RetryPolicy
from llm_kafka.testing.llm_server import LocalLLMServer

from .kafka_io import committed_offsets, end_offsets, produce, read_all, run_until_settled, wait_until
from .processors import SleepyProcessor, TimelineLLMProcessor

pytestmark = pytest.mark.kafka


def message(message_id: str, content: str) -> bytes:
    return json.dumps({"id": message_id, "content": content}).encode()


def make_pipeline(
    bootstrap: str,
    topics: dict[str, str],
    processor: BaseProcessor,
    *,
    consumer: dict[str, Any] | None = None,
    llm: LLMClient | None = None,
    **settings: Any,
) -> Pipeline:
    return Pipeline(
        processor,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"g-{topics['input']}", consumer=consumer or {}),
        settings=PipelineSettings(
            input_topics=[topics["input"]], output_topic=topics["output"], dead_letter_topic=topics["dlq"], **settings
        ),
        llm=llm,
    )


def watch_for_pause(pipeline: Pipeline, limit_s: float = 30.0) -> threading.Event:
    """Return an event set once the pipeline reports a paused partition (watched for ``limit_s``)."""
    seen = threading.Event()

    def watch() -> None:
        for _ in range(int(limit_s / 0.01)):
            if pipeline.metrics.snapshot().gauges.get("partitions.paused", 0) > 0:
                seen.set()
                return
            time.sleep(0.01)

    threading.Thread(target=watch, daemon=True).start()
    return seen


@pytest.fixture
def topics(new_topic: Callable[..., str]) -> Callable[[int], dict[str, str]]:
    def create(partitions: int) -> dict[str, str]:
        return {"input": new_topic("in", partitions=partitions), "output": new_topic("out"), "dlq": new_topic("dlq")}

    return create


@pytest.fixture
def llm_server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(latency=0.01) as server:
        yield server


def test_slow_call_causes_no_rebalance(bootstrap_servers: str, topics: Callable[[int], dict[str, str]]) -> None:
    names = topics(2)
    # The broker's smallest session timeout is 6 s, and librdkafka wants the poll interval
    # at least as long. The slow messages take 9 s, half as long again.
    consumer = {"session.timeout.ms": 6000, "max.poll.interval.ms": 6000, "heartbeat.interval.ms": 1000}
    first = make_pipeline(bootstrap_servers, names, SleepyProcessor(), consumer=consumer, commit_interval_s=0.5)
    second = make_pipeline(bootstrap_servers, names, SleepyProcessor(), consumer=consumer, commit_interval_s=0.5)
    first.start()
    second.start()
    try:
        assert wait_until(lambda: len(first.assignment) == len(second.assignment) == 1, 60), "no even split"
        before = [p.metrics.snapshot().counters for p in (first, second)]

        for partition in (0, 1):
            produce(
                bootstrap_servers, names["input"], [(None, message(f"slow{partition}", "sleep:9"))], partition=partition
            )
            produce(
                bootstrap_servers,
                names["input"],
                [(None, message(f"fast{partition}-{i}", "hi")) for i in range(10)],
                partition=partition,
            )

        def done() -> bool:
            group = f"g-{names['input']}"
            return committed_offsets(bootstrap_servers, group, names["input"], 2) == end_offsets(
                bootstrap_servers, names["input"], 2
            )

        assert wait_until(done, 60), "the offsets were not committed"
        after = [p.metrics.snapshot().counters for p in (first, second)]
    finally:
        second.stop(timeout=60)
        first.stop(timeout=60)

    for old, new in zip(before, after, strict=True):
        for counter in ("rebalances.assigned", "rebalances.revoked", "rebalances.lost"):
            assert new.get(counter, 0) == old.get(counter, 0), f"{counter} changed while the slow calls ran"
    seen = Counter(json.loads(r.value)["id"] for r in read_all(bootstrap_servers, names["output"], 22))
    assert sorted(seen) == sorted(["slow0", "slow1", *(f"fast{p}-{i}" for p in (0, 1) for i in range(10))])
    assert set(seen.values()) == {1}


def test_retried_message_holds_back_only_its_own_key(
    bootstrap_servers: str, topics: Callable[[int], dict[str, str]], llm_server: LocalLLMServer
) -> None:
    names = topics(1)
    llm_server.configure(fail_marker={"poison": 500})
    llm = LLMClient(
        "openai",
        "local-model",
        api_key="local",
        base_url=llm_server.openai_base_url,
        retry_policy=RetryPolicy(max_attempts=3, base_delay=0.4, max_delay=0.4),
    )
    records = [(b"A", message("a1", "poison")), (b"A", message("a2", "second")), (b"A", message("a3", "third"))]
    records += [(b"B", message(f"b{i}", f"other {i}")) for i in range(5)]
    produce(bootstrap_servers, names["input"], records)
    processor = TimelineLLMProcessor()

    run_until_settled(make_pipeline(bootstrap_servers, names, processor, llm=llm, ordering="key"), len(records))

    events = processor.events
    poison_end = events["a1"][1]
    assert events["a2"][0] >= poison_end, "a2 started while a1 was still being retried"
    assert events["a3"][0] >= events["a2"][1]
    assert all(events[f"b{i}"][1] < poison_end for i in range(5)), "key B waited for key A's retries"
    outputs = [json.loads(r.value)["id"] for r in read_all(bootstrap_servers, names["output"], 7)]
    assert [i for i in outputs if i.startswith("a")] == ["a2", "a3"]
    dead = read_all(bootstrap_servers, names["dlq"], 1)
    assert [json.loads(r.value or b"{}")["id"] for r in dead] == ["a1"]


def test_stuck_key_pauses_its_partition_and_others_flow(
    bootstrap_servers: str, topics: Callable[[int], dict[str, str]]
) -> None:
    names = topics(2)
    stuck = [(b"stuck", message("head", "sleep:4"))] + [(b"stuck", message(f"s{i}", "x")) for i in range(20)]
    free = [(f"k{i}".encode(), message(f"f{i}", "x")) for i in range(40)]
    produce(bootstrap_servers, names["input"], stuck, partition=0)
    produce(bootstrap_servers, names["input"], free, partition=1)
    processor = SleepyProcessor(default_seconds=0.02)
    pipeline = make_pipeline(bootstrap_servers, names, processor, ordering="key", max_in_flight=3, max_buffered=8)
    paused_seen = watch_for_pause(pipeline)
    run_until_settled(pipeline, len(stuck) + len(free))

    order = [json.loads(r.value)["id"] for r in read_all(bootstrap_servers, names["output"], len(stuck) + len(free))]
    assert processor.most_running <= 3
    assert paused_seen.is_set(), "the partition behind the stuck key was never paused"
    assert max(order.index(f"f{i}") for i in range(40)) < order.index("head"), "partition 1 waited for the stuck key"
    assert [i for i in order if i.startswith("s") or i == "head"] == ["head", *(f"s{i}" for i in range(20))]


def test_provider_outage_pauses_consumption_and_loses_nothing(
    bootstrap_servers: str, topics: Callable[[int], dict[str, str]], llm_server: LocalLLMServer
) -> None:
    names = topics(2)
    count = 20
    llm_server.configure(fail_first_n=1, fail_first_status=401)  # a credentials failure, provider-wide
    llm = LLMClient(
        "openai",
        "local-model",
        api_key="local",
        base_url=llm_server.openai_base_url,
        circuit_breaker=CircuitBreaker("local", recovery_timeout=1.0),
    )
    produce(
        bootstrap_servers, names["input"], [(f"k{i}".encode(), message(f"m{i}", f"text {i}")) for i in range(count)]
    )
    pipeline = make_pipeline(bootstrap_servers, names, TimelineLLMProcessor(), llm=llm, max_in_flight=4)
    paused_seen = watch_for_pause(pipeline)
    run_until_settled(pipeline, count)

    assert paused_seen.is_set(), "the partitions were not paused while the breaker was open"
    assert pipeline.metrics.snapshot().counter("messages.retried") >= 1
    assert pipeline.metrics.snapshot().counter("messages.dead_lettered") == 0
    assert len(read_all(bootstrap_servers, names["output"], count)) == count
