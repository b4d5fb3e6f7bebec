"""Benchmark W2: LLM-bound throughput against the local LLM server at a fixed latency.

Produces ``--messages`` JSON messages to a topic with ``--partitions`` partitions and runs
each variant on its own copy of the input, against one local LLM server that answers every
request after ``--latency`` seconds, with no rate limits:

* ``concurrent``: ``Pipeline`` with ``max_in_flight=--max-in-flight`` and an async processor
  that makes one ``LLMClient.acomplete`` call per message.
* ``one-at-a-time``: the same pipeline and processor with ``max_in_flight=1``, on
  ``--sequential-messages`` messages.
* ``raw-sequential``: a plain confluent-kafka loop that calls the ``openai`` SDK once per
  message and produces the output before it consumes the next record, on
  ``--sequential-messages`` messages.

The ceiling of a variant is ``max_in_flight / latency`` messages per second. Throughput is
counted from the first call of the processor (or the loop's first record) to the moment
the output topic's end offsets reach the message count.

Run: ``python benchmarks/w2_llm_bound.py`` (2,000 messages at 0.2 s, about a minute).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import openai
from _common import (
    MAX_TOKENS,
    AskModel,
    OutputCounter,
    broker,
    configure_logging,
    json_message,
    llm_server_process,
    load_average,
    new_topic,
    parse_variants,
    print_run_details,
    print_table,
    produce_bulk,
    raw_clients,
)

from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings
from llm_kafka.testing.llm_server import LocalLLMServer

VARIANTS = ("concurrent", "one-at-a-time", "raw-sequential")


@dataclass
class RunResult:
    variant: str
    messages: int
    max_in_flight: int
    seconds: float | None
    dead_lettered: int
    latency: float

    @property
    def rate(self) -> float | None:
        return None if not self.seconds else self.messages / self.seconds

    @property
    def ceiling(self) -> float:
        return self.max_in_flight / self.latency


@contextmanager
def llm_base_url(arguments: argparse.Namespace) -> Iterator[str]:
    """Yield the OpenAI base URL of a local LLM server on a thread here or in a child process."""
    if arguments.llm_server == "process":
        with llm_server_process(arguments.latency) as child:
            yield child.openai_base_url
        return
    with LocalLLMServer(latency=arguments.latency) as server:
        yield server.openai_base_url


def run_pipeline(
    bootstrap: str, base_url: str, variant: str, messages: int, arguments: argparse.Namespace
) -> RunResult:
    """Run ``Pipeline`` over a fresh input topic of ``messages`` records until all are settled."""
    max_in_flight = arguments.max_in_flight if variant == "concurrent" else 1
    input_topic = new_topic(bootstrap, "w2-in", arguments.partitions)
    produce_bulk(
        bootstrap, input_topic, messages, arguments.partitions, lambda index: json_message(index, arguments.size)
    )
    output_topic = new_topic(bootstrap, "w2-out", arguments.partitions)
    dead_letter_topic = new_topic(bootstrap, "w2-dlq", 1)

    processor = AskModel()
    llm = LLMClient("openai", "local-model", api_key="local", base_url=base_url, max_tokens=MAX_TOKENS)
    pipeline = Pipeline(
        processor,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"bench-w2-{uuid.uuid4().hex}"),
        settings=PipelineSettings(
            input_topics=[input_topic],
            output_topic=output_topic,
            dead_letter_topic=dead_letter_topic,
            max_in_flight=max_in_flight,
        ),
        llm=llm,
    )
    outputs = OutputCounter(bootstrap, output_topic, arguments.partitions)
    dead_letters = OutputCounter(bootstrap, dead_letter_topic, 1)

    pipeline.start()
    finished = None
    deadline = time.monotonic() + arguments.timeout
    while time.monotonic() < deadline and pipeline.error is None:
        if outputs.count() + dead_letters.count() >= messages:
            finished = time.perf_counter()
            break
        time.sleep(0.02)
    pipeline.stop(timeout=60)
    dead = dead_letters.count()
    outputs.close()
    dead_letters.close()
    if pipeline.error is not None:
        raise RuntimeError(f"{variant} pipeline failed: {pipeline.error!r}") from pipeline.error
    seconds = None if finished is None or processor.first_call is None else finished - processor.first_call
    return RunResult(variant, messages, max_in_flight, seconds, dead, arguments.latency)


def run_raw_sequential(bootstrap: str, base_url: str, messages: int, arguments: argparse.Namespace) -> RunResult:
    """Consume, call the SDK and produce one message at a time, committing every second."""
    input_topic = new_topic(bootstrap, "w2-raw-in", arguments.partitions)
    produce_bulk(
        bootstrap, input_topic, messages, arguments.partitions, lambda index: json_message(index, arguments.size)
    )
    output_topic = new_topic(bootstrap, "w2-raw-out", arguments.partitions)

    client = openai.OpenAI(base_url=base_url, api_key="local", max_retries=0)
    consumer, producer = raw_clients(bootstrap, "bench-w2-raw")
    outputs = OutputCounter(bootstrap, output_topic, arguments.partitions)
    consumer.subscribe([input_topic])

    first_record = None
    consumed = 0
    uncommitted = 0
    next_commit = time.monotonic() + 1.0
    deadline = time.monotonic() + arguments.timeout
    try:
        while consumed < messages and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is None or message.error() is not None:
                continue
            if first_record is None:
                first_record = time.perf_counter()
            envelope = json.loads(message.value() or b"")
            completion = client.chat.completions.create(
                model="local-model",
                messages=[{"role": "user", "content": str(envelope["content"])}],
                max_completion_tokens=MAX_TOKENS,
            )
            output = {
                "id": envelope["id"],
                "original": envelope["content"],
                "result": {"answer": completion.choices[0].message.content},
            }
            producer.produce(output_topic, json.dumps(output).encode(), key=message.key())
            producer.poll(0)
            consumed += 1
            uncommitted += 1
            if time.monotonic() >= next_commit:
                # Flush first: an offset is committed only once its output is acknowledged.
                producer.flush()
                consumer.commit(asynchronous=False)
                uncommitted = 0
                next_commit = time.monotonic() + 1.0
        producer.flush()
        if uncommitted:
            consumer.commit(asynchronous=False)
        finished = outputs.wait_for(messages, timeout_s=30.0)
    finally:
        consumer.close()
        outputs.close()
        client.close()
    seconds = None if finished is None or first_record is None else finished - first_record
    return RunResult("raw-sequential", messages, 1, seconds, 0, arguments.latency)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--messages", type=int, default=2000, help="messages for the concurrent variant (default: 2000)"
    )
    parser.add_argument(
        "--sequential-messages", type=int, default=100, help="messages for the one-at-a-time variants (default: 100)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.2, help="LLM server latency per request in seconds (default: 0.2)"
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=64, help="max_in_flight of the concurrent variant (default: 64)"
    )
    parser.add_argument(
        "--partitions", type=int, default=4, help="partitions of the input and output topics (default: 4)"
    )
    parser.add_argument("--size", type=int, default=300, help="approximate bytes per input message (default: 300)")
    parser.add_argument(
        "--variants",
        default="concurrent,one-at-a-time",
        help=f"comma-separated variants from {', '.join(VARIANTS)} (default: concurrent,one-at-a-time)",
    )
    parser.add_argument(
        "--llm-server",
        choices=("thread", "process"),
        default="thread",
        help="run the local LLM server on a thread of this process or in a child process (default: thread)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take (default: 300)")
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    arguments = parser.parse_args(argv)

    arguments.variant_list = parse_variants(parser, arguments.variants, VARIANTS)
    if min(arguments.messages, arguments.sequential_messages, arguments.partitions, arguments.max_in_flight) < 1:
        parser.error("--messages, --sequential-messages, --partitions and --max-in-flight must be at least 1")
    if arguments.latency <= 0:
        parser.error(f"invalid --latency {arguments.latency}: expected seconds > 0")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    configure_logging(arguments.verbose)
    load_before = load_average()

    results: list[RunResult] = []
    with broker() as bootstrap, llm_base_url(arguments) as base_url:
        for variant in arguments.variant_list:
            if variant == "concurrent":
                result = run_pipeline(bootstrap, base_url, variant, arguments.messages, arguments)
            elif variant == "one-at-a-time":
                result = run_pipeline(bootstrap, base_url, variant, arguments.sequential_messages, arguments)
            else:
                result = run_raw_sequential(bootstrap, base_url, arguments.sequential_messages, arguments)
            results.append(result)
            rate = f"{result.rate:.1f} msg/s" if result.rate else "did not finish"
            print(f"{variant}: {rate}", flush=True)

    print()
    rows = []
    for result in results:
        rows.append(
            [
                result.variant,
                str(result.messages),
                str(result.max_in_flight),
                f"{result.seconds:.2f}" if result.seconds else "timeout",
                f"{result.rate:.1f}" if result.rate else "-",
                f"{result.ceiling:.1f}",
                f"{result.rate / result.ceiling:.1%}" if result.rate else "-",
                str(result.dead_lettered),
            ]
        )
    print_table(
        ["variant", "messages", "in flight", "seconds", "msg/s", "ceiling msg/s", "of ceiling", "dead-lettered"], rows
    )
    where = "this process" if arguments.llm_server == "thread" else "child process"
    print(f"\nLLM server: latency {arguments.latency} s, no limits, on a {arguments.llm_server} ({where}).")
    print_run_details(load_before)
    return 0 if all(result.rate for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
