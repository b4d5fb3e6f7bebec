"""Shared parts of the benchmark scripts: broker and topics, bulk input, output counting, reports.

Every script talks only to 127.0.0.1: the broker is the one KAFKA_BOOTSTRAP_SERVERS names
(expected to be local) or a local Apache Kafka that ``broker`` starts, and the LLM server is
the project's local one. Results are printed as a markdown table row with the command,
date and machine, ready to paste into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import re
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from llm_kafka import BaseProcessor, ProcessingContext
from llm_kafka.testing.kafka_broker import (
    BOOTSTRAP_SERVERS_ENV,
    KAFKA_VERSION,
    broker_from_environment,
    create_topic,
)

KAFKA_LOGGER = logging.getLogger("benchmarks.librdkafka")

# How often ``OutputCounter.wait_for`` reads the output topic's end offsets. The measured
# end time is late by up to this much: about 3% of the shortest recorded run (raw W1, 0.6 s).
OUTPUT_CHECK_INTERVAL_S = 0.02

# How long the local LLM server child process may take to print its address.
_LLM_SERVER_START_TIMEOUT_S = 30.0


# Output tokens the benchmark processors request per LLM call.
MAX_TOKENS = 32


class AskModel(BaseProcessor):
    """Sends each message's content to the model once; records when it first ran."""

    name = "ask_model"

    def __init__(self) -> None:
        self.first_call: float | None = None

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        if self.first_call is None:
            self.first_call = time.perf_counter()
        assert context.llm is not None
        response = await context.llm.acomplete(str(data), max_tokens=MAX_TOKENS)
        return {"answer": response.text}


def configure_logging(verbose: bool) -> None:
    """Log warnings (or everything with ``verbose``); librdkafka start-up chatter only at ERROR."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # A new consumer group logs transient coordinator states as warnings.
        logging.getLogger("llm_kafka.librdkafka").setLevel(logging.ERROR)
        KAFKA_LOGGER.setLevel(logging.ERROR)


@contextmanager
def broker() -> Iterator[str]:
    """Yield the bootstrap servers of KAFKA_BOOTSTRAP_SERVERS or of a local broker started here."""
    handle = broker_from_environment()
    try:
        yield handle.bootstrap_servers
    finally:
        handle.stop()


def new_topic(bootstrap: str, prefix: str, partitions: int) -> str:
    """Create a topic with a unique name and return the name."""
    name = f"bench-{prefix}-{uuid.uuid4().hex[:10]}"
    create_topic(bootstrap, name, partitions=partitions)
    return name


def raw_clients(bootstrap: str, group_prefix: str) -> tuple[Consumer, Producer]:
    """Return a manual-commit consumer in a new group and an idempotent acks=all producer.

    The hand-written loops use the same delivery settings as llm-kafka, so the comparison is fair.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{group_prefix}-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "logger": KAFKA_LOGGER,
        }
    )
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "logger": KAFKA_LOGGER}
    )
    return consumer, producer


def json_message(index: int, size: int) -> bytes:
    """Return a default-format input message of about ``size`` bytes (never less than ~90)."""
    envelope = {"id": f"msg-{index:07d}", "type": "default", "content": "", "metadata": {"seq": index}}
    padding = max(0, size - len(json.dumps(envelope)))
    words = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " * (padding // 70 + 1))[
        :padding
    ]
    envelope["content"] = words
    return json.dumps(envelope).encode()


def produce_bulk(
    bootstrap: str,
    topic: str,
    count: int,
    partitions: int,
    value: Callable[[int], bytes],
    timeout_s: float = 300.0,
) -> float:
    """Produce ``count`` records round-robin over ``partitions``; return the seconds it took.

    Record ``i`` has key ``msg-i`` and value ``value(i)``. Batching settings favour speed;
    the records are still acknowledged by all in-sync replicas. Raises RuntimeError when a
    record is not delivered within ``timeout_s``.
    """
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 50,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
            "logger": KAFKA_LOGGER,
        }
    )
    failures: list[str] = []

    def report(error: object, message: object) -> None:
        if error is not None:
            failures.append(str(error))

    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    for index in range(count):
        while True:
            try:
                producer.produce(
                    topic,
                    value=value(index),
                    key=f"msg-{index:07d}".encode(),
                    partition=index % partitions,
                    on_delivery=report,
                )
                break
            except BufferError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"producing the input to {topic} timed out after {timeout_s:.0f} s") from None
                producer.poll(0.05)
        if index % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(max(1.0, deadline - time.monotonic()))
    if remaining or failures:
        raise RuntimeError(f"{remaining} input records not delivered to {topic}; errors: {failures[:3]}")
    return time.perf_counter() - started


class OutputCounter:
    """Counts the records in a topic from its end offsets (no consumer group, nothing read).

    The topics the benchmarks write are fresh and non-transactional, so the end offset sum
    equals the number of records produced to them.
    """

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"bench-counter-{uuid.uuid4().hex}", "logger": KAFKA_LOGGER}
        )
        self._partitions = [TopicPartition(topic, partition) for partition in range(partitions)]

    def count(self) -> int:
        """Return the number of records in the topic now.

        Retries for up to 10 s while the broker is not yet leader of a just-created topic's
        partitions, then raises ``KafkaException``.
        """
        deadline = time.monotonic() + 10.0
        while True:
            try:
                return sum(
                    self._consumer.get_watermark_offsets(partition, timeout=10.0, cached=False)[1]
                    for partition in self._partitions
                )
            except KafkaException:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def wait_for(self, expected: int, timeout_s: float, stop_early: Callable[[], bool] = lambda: False) -> float | None:
        """Wait until the topic contains ``expected`` records; return ``time.perf_counter()`` then.

        Returns None when ``timeout_s`` passes or ``stop_early`` returns True first.
        """
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.count() >= expected:
                return time.perf_counter()
            if stop_early():
                return None
            time.sleep(OUTPUT_CHECK_INTERVAL_S)
        return None

    def close(self) -> None:
        """Close the client."""
        self._consumer.close()


@dataclass
class LLMServerProcess:
    """The local LLM server running in a child process, so its threads share no GIL with the benchmark."""

    process: subprocess.Popen[str]
    openai_base_url: str

    def stop(self) -> None:
        """Stop the child with SIGTERM and wait for it (SIGKILL after 10 s)."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10.0)


@contextmanager
def llm_server_process(latency: float) -> Iterator[LLMServerProcess]:
    """Run ``python -m llm_kafka.testing.llm_server`` on a free 127.0.0.1 port with ``latency``."""
    command = [
        sys.executable,
        "-m",
        "llm_kafka.testing.llm_server",
        "--port",
        "0",
        "--latency",
        str(latency),
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    server = None
    try:
        deadline = time.monotonic() + _LLM_SERVER_START_TIMEOUT_S
        assert process.stdout is not None
        while server is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(f"local LLM server exited with code {process.wait()} before printing its address")
            found = re.search(r"OpenAI base URL:\s+(\S+)", line)
            if found:
                server = LLMServerProcess(process, found.group(1))
        if server is None:
            raise RuntimeError(f"local LLM server did not print its address within {_LLM_SERVER_START_TIMEOUT_S:.0f} s")
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10.0)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10.0)


def rss_kib(pid: int | str = "self") -> int:
    """Return the resident set size of process ``pid`` in KiB, from /proc/<pid>/status (Linux only)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line; is the process a zombie?")


def slope_per_minute(samples: Sequence[tuple[float, float]]) -> float:
    """Return the least-squares slope of ``(seconds, value)`` samples, in value units per minute."""
    if len(samples) < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / len(samples)
    mean_v = sum(v for _, v in samples) / len(samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    if spread == 0:
        return 0.0
    return 60.0 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread


def machine() -> str:
    """Describe the machine: cores, memory, Python, confluent-kafka and the broker's Kafka version."""
    import confluent_kafka

    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    external = os.environ.get(BOOTSTRAP_SERVERS_ENV, "").strip()
    kafka = f"external broker {external}" if external else f"Apache Kafka {KAFKA_VERSION} (local)"
    return (
        f"{os.cpu_count()} cores, {total_kib / 1024 / 1024:.1f} GiB, {platform.system()}, "
        f"Python {platform.python_version()}, confluent-kafka {confluent_kafka.version()} "
        f"(librdkafka {confluent_kafka.libversion()[0]}), {kafka}"
    )


def load_average() -> str:
    """Return the 1-minute load average, which shows whether other work shared the machine."""
    return f"{os.getloadavg()[0]:.2f}"


def command_line() -> str:
    """Return the command that ran this script, for the results table."""
    return "python " + " ".join(shlex.quote(part) for part in sys.argv)


def parse_variants(parser: argparse.ArgumentParser, text: str, known: Sequence[str]) -> list[str]:
    """Return the comma-separated variant names in ``text``; exit with a usage error on unknown ones."""
    variants = [variant.strip() for variant in text.split(",") if variant.strip()]
    unknown = [variant for variant in variants if variant not in known]
    if unknown or not variants:
        parser.error(f"invalid --variants {text!r}: choose from {', '.join(known)}")
    return variants


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a markdown table."""
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join("---" for _ in header) + " |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def print_run_details(load_before: str) -> None:
    """Print the command, date, machine and load averages of this run."""
    print()
    print(f"- command: `{command_line()}`")
    print(f"- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    print(f"- machine: {machine()}")
    print(f"- 1-minute load average: {load_before} before, {load_average()} after")
