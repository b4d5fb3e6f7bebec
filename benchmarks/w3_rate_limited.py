"""Benchmark W3: LLM work through the pipeline against a provider limited to 600 requests a minute.

Sends ``--messages`` messages (2,000 for the recorded figure) through a real Kafka broker
(``KAFKA_BOOTSTRAP_SERVERS``, or a local Apache Kafka this script starts) and the local LLM
server limited to ``--rpm`` requests per sliding 60-second window. The ceiling is
``rpm / 60`` messages per second (10 at 600 RPM). It runs up to three approaches on the same
prompts, each against a freshly reset server:

* ``pipeline``: ``Pipeline`` with an ``LLMClient`` whose ``RateLimits`` match the server;
* ``sequential``: a one-at-a-time loop with the ``openai`` SDK and its default retries;
* ``sdk-threads``: ``--threads`` threads with the ``openai`` SDK and its default retries.

For each it prints throughput against the ceiling (overall, and after the first window,
where the server has allowed a burst), the share of requests that got a 429, and failures.
Run: ``python benchmarks/w3_rate_limited.py --messages 2000``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import openai
from confluent_kafka import Producer

from llm_kafka import (
    BaseProcessor,
    KafkaSettings,
    LLMClient,
    Pipeline,
    PipelineSettings,
    ProcessingContext,
    RateLimits,
    RetryPolicy,
)
from llm_kafka.testing.kafka_broker import broker_from_environment, create_topic
from llm_kafka.testing.llm_server import LocalLLMServer

WINDOW_SECONDS = 60.0
MODES = ("pipeline", "sequential", "sdk-threads")


class CompleteProcessor(BaseProcessor):
    """Sends each message's content to the model once and returns the text."""

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        assert context.llm is not None
        response = await context.llm.acomplete(str(data), max_tokens=64)
        return {"text": response.text}


@dataclass
class Result:
    mode: str
    done: int
    failed: int
    elapsed: float
    steady_rate: float | None
    requests: int
    rate_limited: int

    def report(self, ceiling: float) -> str:
        rate = self.done / self.elapsed if self.elapsed > 0 else 0.0
        share_429 = self.rate_limited / self.requests if self.requests else 0.0
        steady = "n/a (run shorter than 1.5 windows)"
        if self.steady_rate is not None:
            steady = f"{self.steady_rate:.2f} msg/s ({self.steady_rate / ceiling:.0%} of ceiling)"
        return (
            f"{self.mode}:\n"
            f"  messages done:     {self.done} ({self.failed} failed or dead-lettered)\n"
            f"  elapsed:           {self.elapsed:.1f} s\n"
            f"  throughput:        {rate:.2f} msg/s overall ({rate / ceiling:.0%} of the {ceiling:.1f} msg/s ceiling)\n"
            f"  after 1st window:  {steady}\n"
            f"  requests sent:     {self.requests}, answered 429: {self.rate_limited} ({share_429:.2%})"
        )


class Progress:
    """Counts finished messages and remembers how many were done when the first window ended."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done_at_window: int | None = None

    def observe(self, done: int) -> None:
        if self.done_at_window is None and time.monotonic() - self.started >= WINDOW_SECONDS:
            self.done_at_window = done

    def steady_rate(self, done: int, elapsed: float) -> float | None:
        if self.done_at_window is None or elapsed < 1.5 * WINDOW_SECONDS:
            return None
        return (done - self.done_at_window) / (elapsed - WINDOW_SECONDS)


def prompts(count: int) -> list[str]:
    return [f"Classify support ticket {index}: the parcel arrived late and damaged." for index in range(count)]


def server_counts(server: LocalLLMServer) -> tuple[int, int]:
    stats = server.stats().to_dict()
    return int(stats["requests_total"]), int(stats["responses_by_status"].get("429", 0))


def run_pipeline(
    server: LocalLLMServer,
    bootstrap: str,
    texts: list[str],
    arguments: argparse.Namespace,
) -> Result:
    run_id = uuid.uuid4().hex[:8]
    topics = {name: f"w3-{run_id}-{name}" for name in ("input", "output", "dlq")}
    create_topic(bootstrap, topics["input"], partitions=arguments.partitions)
    create_topic(bootstrap, topics["output"])
    create_topic(bootstrap, topics["dlq"])
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for index, text in enumerate(texts):
        producer.produce(
            topics["input"],
            key=str(index).encode(),
            value=json.dumps({"id": str(index), "content": text}).encode(),
        )
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("not every input record was acknowledged within 60 s")

    llm = LLMClient(
        "openai",
        "local-model",
        api_key="local",
        base_url=server.openai_base_url,
        rate_limits=RateLimits(requests_per_minute=arguments.rpm),
        retry_policy=RetryPolicy(max_attempts=6, max_retry_after=WINDOW_SECONDS),
    )
    pipeline = Pipeline(
        CompleteProcessor(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"w3-{run_id}"),
        settings=PipelineSettings(
            input_topics=[topics["input"]],
            output_topic=topics["output"],
            dead_letter_topic=topics["dlq"],
        ),
        llm=llm,
    )
    server.reset()
    progress = Progress()
    pipeline.start()
    try:
        done = failed = 0
        while time.monotonic() - progress.started < arguments.timeout and pipeline.error is None:
            snapshot = pipeline.metrics.snapshot()
            failed = int(snapshot.counter("messages.dead_lettered"))
            done = int(snapshot.counter("messages.processed")) + failed
            progress.observe(done)
            if done >= len(texts):
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - progress.started
    finally:
        pipeline.stop(timeout=60)
    if pipeline.error is not None:
        raise RuntimeError(f"the pipeline stopped with an error: {pipeline.error}")
    requests, rate_limited = server_counts(server)
    return Result(
        "pipeline",
        done,
        failed,
        elapsed,
        progress.steady_rate(done, elapsed),
        requests,
        rate_limited,
    )


def run_sdk(server: LocalLLMServer, texts: list[str], threads: int, mode: str, timeout: float) -> Result:
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="local")
    server.reset()
    progress = Progress()
    lock = threading.Lock()
    counts = {"done": 0, "failed": 0}
    queue = list(reversed(texts))

    def worker() -> None:
        while time.monotonic() - progress.started < timeout:
            with lock:
                if not queue:
                    return
                text = queue.pop()
            outcome = "done"
            try:
                client.chat.completions.create(
                    model="local-model",
                    messages=[{"role": "user", "content": text}],
                    max_completion_tokens=64,
                )
            except openai.OpenAIError:
                outcome = "failed"
            with lock:
                counts["done"] += 1
                counts["failed"] += outcome == "failed"
                progress.observe(counts["done"])

    workers = [threading.Thread(target=worker, name=f"w3-sdk-{index}") for index in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.monotonic() - progress.started
    requests, rate_limited = server_counts(server)
    done = counts["done"]
    return Result(
        mode,
        done,
        counts["failed"],
        elapsed,
        progress.steady_rate(done, elapsed),
        requests,
        rate_limited,
    )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--messages",
        type=int,
        default=2000,
        help="messages per approach (default: 2000)",
    )
    parser.add_argument(
        "--rpm",
        type=int,
        default=600,
        help="server limit in requests per 60 s window (default: 600)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.05,
        help="server latency per request in seconds (default: 0.05)",
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=8,
        help="partitions of the input topic (default: 8)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=16,
        help="threads of the sdk-threads approach (default: 16)",
    )
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help=f"comma-separated approaches to run (default: {','.join(MODES)})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800,
        help="seconds each approach may take (default: 1800)",
    )
    arguments = parser.parse_args(argv)
    unknown = set(arguments.modes.split(",")) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s) {sorted(unknown)}: choose from {', '.join(MODES)}")
    if arguments.messages < 1:
        parser.error(f"invalid --messages {arguments.messages}: expected at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("llm_kafka.kafka").setLevel(logging.ERROR)
    texts = prompts(arguments.messages)
    ceiling = arguments.rpm / WINDOW_SECONDS
    modes = arguments.modes.split(",")
    runners: dict[str, Callable[[], Result]] = {}

    with ExitStack() as stack:
        server = stack.enter_context(LocalLLMServer(requests_per_minute=arguments.rpm, latency=arguments.latency))
        if "pipeline" in modes:
            broker = broker_from_environment()
            stack.callback(broker.stop)
            runners["pipeline"] = lambda: run_pipeline(server, broker.bootstrap_servers, texts, arguments)
        runners["sequential"] = lambda: run_sdk(server, texts, 1, "sequential", arguments.timeout)
        runners["sdk-threads"] = lambda: run_sdk(server, texts, arguments.threads, "sdk-threads", arguments.timeout)

        limit = f"server limit {arguments.rpm} requests/60 s"
        print(f"W3: {arguments.messages} messages, {limit}, latency {arguments.latency} s")
        for mode in modes:
            print(f"running {mode} ...", flush=True)
            print(runners[mode]().report(ceiling), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
