"""At-least-once delivery on the real broker: every input ends in exactly one place."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from llm_kafka import KafkaSettings, Pipeline, PipelineSettings
from llm_kafka.kafka import dead_letter as dlq

from .kafka_io import (
    committed_offsets,
    end_offsets,
    produce,
    read_all,
    run_until_settled,
    wait_until,
)
from .processors import EchoProcessor

pytestmark = pytest.mark.kafka

GOOD = 20
BAD_RECORDS: list[tuple[str, bytes | None, str]] = [
    ("not-utf8", b"\xff\xfe\xfd", "DeserializationError"),
    ("not-json", b"{this is not json", "DeserializationError"),
    ("not-object", b"[1, 2, 3]", "DeserializationError"),
    ("null-value", None, "DeserializationError"),
    ("invalid", b'{"type": "default"}', "MessageValidationError"),
    ("explodes", b'{"id": "boom", "content": "explode"}', "ValueError"),
]


def make_pipeline(bootstrap: str, group: str, topics: dict[str, str]) -> Pipeline:
    return Pipeline(
        EchoProcessor(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=group),
        settings=PipelineSettings(
            input_topics=[topics["input"]],
            output_topic=topics["output"],
            dead_letter_topic=topics["dlq"],
            commit_interval_s=0.5,
        ),
    )


@pytest.fixture
def topics(new_topic: Callable[..., str]) -> dict[str, str]:
    return {
        "input": new_topic("in", partitions=2),
        "output": new_topic("out"),
        "dlq": new_topic("dlq"),
    }


@pytest.fixture
def loaded_topics(bootstrap_servers: str, topics: dict[str, str]) -> dict[str, str]:
    records = [
        (
            f"k{i}".encode(),
            json.dumps({"id": f"m{i}", "content": f"text {i}"}).encode(),
            [("trace", b"t%d" % i)],
        )
        for i in range(GOOD)
    ]
    records += [(key.encode(), value, [("origin", b"test")]) for key, value, _ in BAD_RECORDS]
    produce(bootstrap_servers, topics["input"], records)
    return topics


def test_every_input_lands_in_exactly_one_topic(bootstrap_servers: str, loaded_topics: dict[str, str]) -> None:
    run_until_settled(
        make_pipeline(bootstrap_servers, "g-exactly-one", loaded_topics),
        GOOD + len(BAD_RECORDS),
    )

    outputs = read_all(bootstrap_servers, loaded_topics["output"], GOOD)
    dead = read_all(bootstrap_servers, loaded_topics["dlq"], len(BAD_RECORDS))

    assert len(outputs) == GOOD
    assert len(dead) == len(BAD_RECORDS)
    assert sorted(json.loads(r.value)["id"] for r in outputs) == sorted(f"m{i}" for i in range(GOOD))
    assert sorted(r.key for r in dead) == sorted(key.encode() for key, _, _ in BAD_RECORDS)


def test_output_record_has_result_and_metadata(bootstrap_servers: str, loaded_topics: dict[str, str]) -> None:
    run_until_settled(
        make_pipeline(bootstrap_servers, "g-output", loaded_topics),
        GOOD + len(BAD_RECORDS),
    )

    outputs = read_all(bootstrap_servers, loaded_topics["output"], GOOD)
    first = next(r for r in outputs if json.loads(r.value)["id"] == "m3")
    body = json.loads(first.value)

    assert body["original"] == "text 3"
    assert body["result"] == {"reversed": "3 txet"}
    assert body["metadata"]["processor"] == "echo"
    assert body["metadata"]["processing_time_ms"] >= 0
    assert first.key == b"k3"
    assert first.headers["trace"] == b"t3"


def test_dead_letter_keeps_record_and_explains_failure(bootstrap_servers: str, loaded_topics: dict[str, str]) -> None:
    run_until_settled(
        make_pipeline(bootstrap_servers, "g-dlq", loaded_topics),
        GOOD + len(BAD_RECORDS),
    )

    dead = {r.key.decode(): r for r in read_all(bootstrap_servers, loaded_topics["dlq"], len(BAD_RECORDS))}
    for key, value, error_type in BAD_RECORDS:
        record = dead[key]
        assert record.value == value, key
        assert record.headers["origin"] == b"test", key
        assert record.headers[dlq.HEADER_ERROR_TYPE].decode() == error_type, key
        assert record.headers[dlq.HEADER_SOURCE_TOPIC].decode() == loaded_topics["input"], key
        assert int(record.headers[dlq.HEADER_SOURCE_OFFSET]) >= 0, key
        assert record.headers[dlq.HEADER_SOURCE_PARTITION] in (b"0", b"1"), key
        assert int(record.headers[dlq.HEADER_SOURCE_TIMESTAMP]) > 0, key
        assert record.headers[dlq.HEADER_ATTEMPTS] == b"1", key
        assert record.headers[dlq.HEADER_ERROR_MESSAGE], key

    assert b"content" in dead["invalid"].headers[dlq.HEADER_ERROR_MESSAGE]
    assert dead["explodes"].headers[dlq.HEADER_PROCESSOR] == b"echo"


def test_committed_offsets_reach_end_of_input(bootstrap_servers: str, loaded_topics: dict[str, str]) -> None:
    run_until_settled(
        make_pipeline(bootstrap_servers, "g-commit", loaded_topics),
        GOOD + len(BAD_RECORDS),
    )

    committed = committed_offsets(bootstrap_servers, "g-commit", loaded_topics["input"], 2)

    assert committed == end_offsets(bootstrap_servers, loaded_topics["input"], 2)


def test_clean_restart_reprocesses_nothing(bootstrap_servers: str, loaded_topics: dict[str, str]) -> None:
    run_until_settled(
        make_pipeline(bootstrap_servers, "g-restart", loaded_topics),
        GOOD + len(BAD_RECORDS),
    )

    second = make_pipeline(bootstrap_servers, "g-restart", loaded_topics)
    second.start()
    try:
        assert wait_until(lambda: second.metrics.snapshot().counter("rebalances.assigned") >= 2, 30)
        time.sleep(3)  # give a wrongly reset consumer time to fetch and process the input again
    finally:
        second.stop(timeout=60)

    assert second.metrics.snapshot().counter("messages.consumed") == 0
    assert len(read_all(bootstrap_servers, loaded_topics["output"], GOOD)) == GOOD
