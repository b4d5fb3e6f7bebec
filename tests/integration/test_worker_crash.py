"""Crash and restart of a worker process on the real broker: no input goes unaccounted for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

from llm_kafka.testing.llm_server import LocalLLMServer

from .kafka_io import committed_offsets, end_offsets, produce, read_all, wait_until

pytestmark = pytest.mark.kafka

REPO_ROOT = Path(__file__).resolve().parents[2]
INPUTS = 200


@pytest.fixture
def llm_server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(latency=0.05) as server:
        yield server


def start_worker(config: dict[str, object], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker_main", json.dumps(config)],
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )


def output_count(bootstrap: str, topic: str) -> int:
    return sum(end_offsets(bootstrap, topic, 1).values())


def input_fully_committed(bootstrap: str, config: dict[str, object]) -> bool:
    topic = str(config["input"])
    return committed_offsets(bootstrap, str(config["group_id"]), topic, 2) == end_offsets(bootstrap, topic, 2)


def run_worker_until(config: dict[str, object], log_path: Path, done: Callable[[], bool], sig: int) -> int:
    """Run a worker until ``done()`` (bounded by 120 s), then send ``sig``; return its exit code."""
    process = start_worker(config, log_path)
    try:
        assert wait_until(done, 120), log_path.read_text()
    finally:
        process.send_signal(sig)
        code = process.wait(timeout=60)
    return code


@pytest.fixture
def crash_setup(
    bootstrap_servers: str, new_topic: Callable[..., str], llm_server: LocalLLMServer, tmp_path: Path
) -> dict[str, object]:
    config = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": f"crash-{tmp_path.name}",
        "input": new_topic("crash-in", partitions=2),
        "output": new_topic("crash-out"),
        "dlq": new_topic("crash-dlq"),
        "llm_base_url": llm_server.openai_base_url,
    }
    records = [
        (f"k{i}".encode(), json.dumps({"id": f"m{i}", "content": f"review {i}"}).encode()) for i in range(INPUTS)
    ]
    produce(bootstrap_servers, str(config["input"]), records)
    return config


def test_sigkill_mid_run_loses_nothing(bootstrap_servers: str, crash_setup: dict[str, object], tmp_path: Path) -> None:
    log_path = tmp_path / "worker.log"
    output = str(crash_setup["output"])

    run_worker_until(
        crash_setup, log_path, lambda: output_count(bootstrap_servers, output) >= INPUTS // 4, signal.SIGKILL
    )
    produced_before_kill = output_count(bootstrap_servers, output)
    assert produced_before_kill < INPUTS, "the worker finished before it could be killed"

    second_exit = run_worker_until(
        crash_setup, log_path, lambda: input_fully_committed(bootstrap_servers, crash_setup), signal.SIGTERM
    )
    assert second_exit == 0, log_path.read_text()

    records = read_all(bootstrap_servers, output, INPUTS)
    seen = Counter(json.loads(r.value)["id"] for r in records)
    assert set(seen) == {f"m{i}" for i in range(INPUTS)}
    duplicates = sum(count - 1 for count in seen.values())
    # Only work finished but not yet committed at the kill may repeat: at most one commit
    # interval of output, far below the number of inputs.
    assert duplicates < INPUTS // 2
    assert read_all(bootstrap_servers, str(crash_setup["dlq"]), 0, timeout_s=5, quiet_s=1) == []


def test_sigterm_commits_everything_finished(
    bootstrap_servers: str, crash_setup: dict[str, object], tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    output = str(crash_setup["output"])

    first_exit = run_worker_until(
        crash_setup, log_path, lambda: output_count(bootstrap_servers, output) >= INPUTS // 4, signal.SIGTERM
    )
    assert first_exit == 0, log_path.read_text()
    after_stop = output_count(bootstrap_servers, output)

    second_exit = run_worker_until(
        crash_setup, log_path, lambda: input_fully_committed(bootstrap_servers, crash_setup), signal.SIGTERM
    )
    assert second_exit == 0, log_path.read_text()

    records = read_all(bootstrap_servers, output, INPUTS)
    seen = Counter(json.loads(r.value)["id"] for r in records)
    assert after_stop < INPUTS
    assert set(seen) == {f"m{i}" for i in range(INPUTS)}
    assert all(count == 1 for count in seen.values()), [k for k, c in seen.items() if c > 1]


def committed_metadata(bootstrap: str, group_id: str, topic: str) -> tuple[int, str]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group_id, "enable.auto.commit": False})
    try:
        [partition] = consumer.committed([TopicPartition(topic, 0)], timeout=15)
        return partition.offset, partition.metadata or ""
    except KafkaException:  # the group coordinator is still loading; ask again later
        return -1, ""
    finally:
        consumer.close()


def test_sigkill_replays_only_slow_head(bootstrap_servers: str, new_topic: Callable[..., str], tmp_path: Path) -> None:
    config: dict[str, object] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": f"slow-head-{tmp_path.name}",
        "input": new_topic("head-in"),
        "output": new_topic("head-out"),
        "dlq": new_topic("head-dlq"),
        "llm_base_url": "http://127.0.0.1:9/unused",
        "processor": "sleepy",
        "sleep_s": 0.02,
        "max_in_flight": 4,
    }
    fast = 60
    records = [(b"head", json.dumps({"id": "slow", "content": "sleep:600"}).encode())]
    records += [(f"k{i}".encode(), json.dumps({"id": f"m{i}", "content": "x"}).encode()) for i in range(fast)]
    produce(bootstrap_servers, str(config["input"]), records)
    log_path = tmp_path / "worker.log"

    # The slow message at offset 0 never finishes, so the commit stays at 0 while the rest is
    # done. The metadata then records: highest consumed 0 + 60 ("1o" in base 36), none unfinished.
    run_worker_until(
        config,
        log_path,
        lambda: committed_metadata(bootstrap_servers, str(config["group_id"]), str(config["input"]))[1] == "llmk1:1o:",
        signal.SIGKILL,
    )
    assert committed_metadata(bootstrap_servers, str(config["group_id"]), str(config["input"]))[0] == 0

    restarted = {**config, "max_sleep_s": 0.05}
    exit_code = run_worker_until(
        restarted, log_path, lambda: input_fully_committed_one(bootstrap_servers, config), signal.SIGTERM
    )
    assert exit_code == 0, log_path.read_text()

    seen = Counter(json.loads(r.value)["id"] for r in read_all(bootstrap_servers, str(config["output"]), fast + 1))
    assert seen["slow"] == 1
    assert set(seen) == {"slow", *(f"m{i}" for i in range(fast))}
    assert [key for key, count in seen.items() if count > 1] == [], "finished work was processed again"


def input_fully_committed_one(bootstrap: str, config: dict[str, object]) -> bool:
    topic = str(config["input"])
    return committed_offsets(bootstrap, str(config["group_id"]), topic, 1) == end_offsets(bootstrap, topic, 1)


def test_member_joining_and_leaving_loses_nothing(
    bootstrap_servers: str, new_topic: Callable[..., str], tmp_path: Path
) -> None:
    inputs, in_flight = 3000, 8
    config: dict[str, object] = {
        "bootstrap_servers": bootstrap_servers,
        "group_id": f"churn-{tmp_path.name}",
        "input": new_topic("churn-in", partitions=6),
        "output": new_topic("churn-out"),
        "dlq": new_topic("churn-dlq"),
        "llm_base_url": "http://127.0.0.1:9/unused",
        "processor": "sleepy",
        "sleep_s": 0.02,
        "max_in_flight": in_flight,
        "commit_interval_s": 5.0,  # long, so progress survives the rebalances only through revoke commits
    }
    records = [(f"k{i}".encode(), json.dumps({"id": f"m{i}", "content": "x"}).encode()) for i in range(inputs)]
    produce(bootstrap_servers, str(config["input"]), records)
    output = str(config["output"])
    logs = [tmp_path / f"worker{n}.log" for n in range(3)]

    workers = [start_worker(config, logs[0]), start_worker(config, logs[1])]
    try:
        assert wait_until(lambda: output_count(bootstrap_servers, output) >= inputs // 4, 120), logs[0].read_text()
        joining = start_worker(config, logs[2])
        assert wait_until(lambda: output_count(bootstrap_servers, output) >= inputs // 2, 120), logs[2].read_text()
        joining.send_signal(signal.SIGTERM)
        assert joining.wait(timeout=60) == 0, logs[2].read_text()
        assert output_count(bootstrap_servers, output) < inputs, "the run ended before the member left"

        topic = str(config["input"])

        def done() -> bool:
            group = str(config["group_id"])
            return committed_offsets(bootstrap_servers, group, topic, 6) == end_offsets(bootstrap_servers, topic, 6)

        assert wait_until(done, 180), logs[0].read_text()[-3000:]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=60) for worker in workers]
    assert codes == [0, 0]

    seen = Counter(json.loads(r.value)["id"] for r in read_all(bootstrap_servers, output, inputs))
    assert set(seen) == {f"m{i}" for i in range(inputs)}
    duplicates = sum(count - 1 for count in seen.values())
    # A revoke waits for in-flight work and commits it, so a repeat can only come from a
    # message still running when its partition moved: at most max_in_flight per revoke.
    # The three workers revoke at most four times in this run.
    assert duplicates <= 4 * in_flight * 3
    assert read_all(bootstrap_servers, str(config["dlq"]), 0, timeout_s=5, quiet_s=1) == []
