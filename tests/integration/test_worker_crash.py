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

from llm_kafka.testing.llm_server import LocalLLMServer

from .kafka_io import committed_offsets, end_offsets, produce, read_all, wait_until

pytestmark = pytest.mark.kafka

REPO_ROOT = Path(__file__).resolve().parents[2]
INPUTS = 200


@pytest.fixture
def llm_server() -> Iterator[LocalLLMServer]:
    with LocalLLMServer(latency=0.02) as server:
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
    return committed_offsets(
        bootstrap, str(config["group_id"]), topic, 2
    ) == end_offsets(bootstrap, topic, 2)


def run_worker_until(
    config: dict[str, object], log_path: Path, done: Callable[[], bool], sig: int
) -> int:
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
    bootstrap_servers: str,
    new_topic: Callable[..., str],
    llm_server: LocalLLMServer,
    tmp_path: Path,
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
        (
            f"k{i}".encode(),
            json.dumps({"id": f"m{i}", "content": f"review {i}"}).encode(),
        )
        for i in range(INPUTS)
    ]
    produce(bootstrap_servers, str(config["input"]), records)
    return config


def test_sigkill_mid_run_loses_nothing(
    bootstrap_servers: str, crash_setup: dict[str, object], tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    output = str(crash_setup["output"])

    run_worker_until(
        crash_setup,
        log_path,
        lambda: output_count(bootstrap_servers, output) >= INPUTS // 4,
        signal.SIGKILL,
    )
    produced_before_kill = output_count(bootstrap_servers, output)
    assert produced_before_kill < INPUTS, (
        "the worker finished before it could be killed"
    )

    second_exit = run_worker_until(
        crash_setup,
        log_path,
        lambda: input_fully_committed(bootstrap_servers, crash_setup),
        signal.SIGTERM,
    )
    assert second_exit == 0, log_path.read_text()

    records = read_all(bootstrap_servers, output, INPUTS)
    seen = Counter(json.loads(r.value)["id"] for r in records)
    assert set(seen) == {f"m{i}" for i in range(INPUTS)}
    duplicates = sum(count - 1 for count in seen.values())
    # Only work finished but not yet committed at the kill may repeat: at most one commit
    # interval of output, far below the number of inputs.
    assert duplicates < INPUTS // 2
    assert (
        read_all(bootstrap_servers, str(crash_setup["dlq"]), 0, timeout_s=5, quiet_s=1)
        == []
    )


def test_sigterm_commits_everything_finished(
    bootstrap_servers: str, crash_setup: dict[str, object], tmp_path: Path
) -> None:
    log_path = tmp_path / "worker.log"
    output = str(crash_setup["output"])

    first_exit = run_worker_until(
        crash_setup,
        log_path,
        lambda: output_count(bootstrap_servers, output) >= INPUTS // 4,
        signal.SIGTERM,
    )
    assert first_exit == 0, log_path.read_text()
    after_stop = output_count(bootstrap_servers, output)

    second_exit = run_worker_until(
        crash_setup,
        log_path,
        lambda: input_fully_committed(bootstrap_servers, crash_setup),
        signal.SIGTERM,
    )
    assert second_exit == 0, log_path.read_text()

    records = read_all(bootstrap_servers, output, INPUTS)
    seen = Counter(json.loads(r.value)["id"] for r in records)
    assert after_stop < INPUTS
    assert set(seen) == {f"m{i}" for i in range(INPUTS)}
    assert all(count == 1 for count in seen.values()), [
        k for k, c in seen.items() if c > 1
    ]
