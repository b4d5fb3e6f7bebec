"""Rebalances on the real broker: a second worker joins mid-run and nothing is lost or repeated."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings
from llm_kafka.testing.llm_server import LocalLLMServer

from .kafka_io import committed_offsets, end_offsets, produce, read_all, wait_until
from .processors import LLMEchoProcessor

pytestmark = pytest.mark.kafka

INPUTS = 200
PARTITIONS = 4


@pytest.fixture
def llm_server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(latency=0.02) as server:
        yield server


def make_pipeline(
    bootstrap: str, topics: dict[str, str], server: LocalLLMServer
) -> Pipeline:
    return Pipeline(
        LLMEchoProcessor(),
        kafka=KafkaSettings(
            bootstrap_servers=bootstrap, group_id=f"g-{topics['input']}"
        ),
        settings=PipelineSettings(
            input_topics=[topics["input"]],
            output_topic=topics["output"],
            dead_letter_topic=topics["dlq"],
            commit_interval_s=5.0,  # long, so only the revoke commit can save the first worker's progress
        ),
        llm=LLMClient(
            "openai", "local-model", api_key="local", base_url=server.openai_base_url
        ),
    )


def test_joining_worker_repeats_no_finished_work(
    bootstrap_servers: str, new_topic: Callable[..., str], llm_server: LocalLLMServer
) -> None:
    topics = {
        "input": new_topic("in", partitions=PARTITIONS),
        "output": new_topic("out"),
        "dlq": new_topic("dlq"),
    }
    records = [
        (f"k{i}".encode(), json.dumps({"id": f"m{i}", "content": f"text {i}"}).encode())
        for i in range(INPUTS)
    ]
    produce(bootstrap_servers, topics["input"], records)
    first = make_pipeline(bootstrap_servers, topics, llm_server)
    second = make_pipeline(bootstrap_servers, topics, llm_server)

    def all_committed() -> bool:
        group = f"g-{topics['input']}"
        committed = committed_offsets(
            bootstrap_servers, group, topics["input"], PARTITIONS
        )
        return committed == end_offsets(bootstrap_servers, topics["input"], PARTITIONS)

    first.start()
    try:
        assert wait_until(
            lambda: (
                first.metrics.snapshot().counter("messages.processed") >= INPUTS // 4
            ),
            60,
        )
        second.start()
        assert wait_until(
            lambda: second.metrics.snapshot().counter("messages.processed") > 0, 60
        )
        assert wait_until(all_committed, 120)
    finally:
        second.stop(timeout=60)
        first.stop(timeout=60)

    seen = Counter(
        json.loads(r.value)["id"]
        for r in read_all(bootstrap_servers, topics["output"], INPUTS)
    )
    assert first.error is None
    assert second.error is None
    assert set(seen) == {f"m{i}" for i in range(INPUTS)}
    assert [key for key, count in seen.items() if count > 1] == []
    assert first.metrics.snapshot().counter("rebalances.revoked") >= 1
    assert second.metrics.snapshot().counter("rebalances.assigned") >= 1
