"""Benchmark W1: framework overhead of llm-kafka against a hand-written confluent-kafka loop.

Produces ``--messages`` JSON messages of about ``--size`` bytes to a topic with
``--partitions`` partitions, then consumes, transforms and produces them with each variant
in turn, on the same broker in the same run:

* ``raw``: a tight confluent-kafka loop. It consumes batches, parses each value, counts the
  words, produces the output with an idempotent, acks=all producer and, every
  ``--commit-interval`` seconds, flushes the producer and commits synchronously, so it is
  at-least-once like llm-kafka.
* ``async``: ``Pipeline`` with a processor whose ``process`` is ``async def``.
* ``plain``: ``Pipeline`` with a processor whose ``process`` is a plain method.

No variant calls an LLM. Each run reads a fresh output topic and consumes the same input
with a new consumer group. Throughput is counted from the first record handed to the
transform to the moment the output topic's end offsets reach ``--messages``.

Run: ``python benchmarks/w1_overhead.py`` (50,000 messages, about a minute with broker start).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from _common import (
    OutputCounter,
    broker,
    configure_logging,
    json_message,
    load_average,
    new_topic,
    parse_variants,
    print_run_details,
    print_table,
    produce_bulk,
    raw_clients,
)

from llm_kafka import (
    BaseProcessor,
    KafkaSettings,
    Pipeline,
    PipelineSettings,
    ProcessingContext,
)

VARIANTS = ("raw", "async", "plain")


def count_words(content: Any) -> dict[str, int]:
    """Return the word and character counts of ``content``: the transform every variant applies."""
    text = str(content)
    return {"words": len(text.split()), "characters": len(text)}


class AsyncWordCount(BaseProcessor):
    """Counts words in ``process`` written as ``async def``; records when it first ran."""

    name = "word_count"

    def __init__(self) -> None:
        self.first_call: float | None = None

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        if self.first_call is None:
            self.first_call = time.perf_counter()
        return count_words(data)


class PlainWordCount(BaseProcessor):
    """Counts words in a plain ``process``; records when it first ran."""

    name = "word_count"

    def __init__(self) -> None:
        self.first_call: float | None = None

    def process(self, data: Any, context: ProcessingContext) -> Any:
        if self.first_call is None:
            self.first_call = time.perf_counter()
        return count_words(data)


@dataclass
class RunResult:
    variant: str
    messages: int
    seconds: float | None
    wall_seconds: float
    dead_lettered: int

    @property
    def rate(self) -> float | None:
        return None if not self.seconds else self.messages / self.seconds


def run_raw(bootstrap: str, input_topic: str, output_topic: str, arguments: argparse.Namespace) -> RunResult:
    """Run the hand-written loop on a thread until every input is produced, then stop it."""
    counter = OutputCounter(bootstrap, output_topic, arguments.partitions)
    first_record: list[float] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        consumer, producer = raw_clients(bootstrap, "bench-raw")
        consumer.subscribe([input_topic])
        next_commit = time.monotonic() + arguments.commit_interval
        uncommitted = 0

        def commit() -> None:
            # Flush first: an offset is committed only once its output is acknowledged.
            producer.flush()
            if uncommitted:
                consumer.commit(asynchronous=False)

        try:
            while not stop.is_set():
                for message in consumer.consume(num_messages=500, timeout=0.1):
                    if message.error() is not None:
                        continue
                    uncommitted += 1
                    if not first_record:
                        first_record.append(time.perf_counter())
                    started = time.perf_counter()
                    envelope = json.loads(message.value() or b"")
                    result = count_words(envelope["content"])
                    output = {
                        "id": envelope["id"],
                        "original": envelope["content"],
                        "result": result,
                        "metadata": {
                            **envelope.get("metadata", {}),
                            "processing_time_ms": round((time.perf_counter() - started) * 1000, 3),
                            "processor": "word_count",
                        },
                    }
                    source = f"{message.topic()}/{message.partition()}/{message.offset()}".encode()
                    while True:
                        try:
                            producer.produce(
                                output_topic,
                                json.dumps(output, separators=(",", ":")).encode(),
                                key=message.key(),
                                headers=[("llm_kafka.source", source)],
                            )
                            break
                        except BufferError:
                            producer.poll(0.05)
                producer.poll(0)
                if time.monotonic() >= next_commit:
                    commit()
                    uncommitted = 0
                    next_commit = time.monotonic() + arguments.commit_interval
            commit()
        except BaseException as error:  # reported by the caller
            errors.append(error)
        finally:
            consumer.close()

    wall_started = time.perf_counter()
    thread = threading.Thread(target=loop, name="raw-loop", daemon=True)
    thread.start()
    finished = counter.wait_for(arguments.messages, arguments.timeout, stop_early=lambda: bool(errors))
    wall = time.perf_counter() - wall_started
    stop.set()
    thread.join(30)
    counter.close()
    if errors:
        raise RuntimeError(f"raw loop failed: {errors[0]!r}") from errors[0]
    seconds = None if finished is None or not first_record else finished - first_record[0]
    return RunResult("raw", arguments.messages, seconds, wall, 0)


def run_pipeline(
    bootstrap: str, input_topic: str, output_topic: str, variant: str, arguments: argparse.Namespace
) -> RunResult:
    """Run ``Pipeline`` with the variant's processor until every input is settled, then stop it."""
    dead_letter_topic = new_topic(bootstrap, "w1-dlq", 1)
    processor: AsyncWordCount | PlainWordCount = AsyncWordCount() if variant == "async" else PlainWordCount()
    pipeline = Pipeline(
        processor,
        kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"bench-{variant}-{uuid.uuid4().hex}"),
        settings=PipelineSettings(
            input_topics=[input_topic],
            output_topic=output_topic,
            dead_letter_topic=dead_letter_topic,
            commit_interval_s=arguments.commit_interval,
            max_in_flight=arguments.max_in_flight,
            max_buffered=arguments.max_buffered,
        ),
    )
    outputs = OutputCounter(bootstrap, output_topic, arguments.partitions)
    dead_letters = OutputCounter(bootstrap, dead_letter_topic, 1)

    def settled() -> bool:
        return outputs.count() + dead_letters.count() >= int(arguments.messages)

    wall_started = time.perf_counter()
    pipeline.start()
    finished = None
    deadline = time.monotonic() + arguments.timeout
    while time.monotonic() < deadline and pipeline.error is None:
        if settled():
            finished = time.perf_counter()
            break
        time.sleep(0.02)
    wall = time.perf_counter() - wall_started
    pipeline.stop(timeout=60)
    dead = dead_letters.count()
    outputs.close()
    dead_letters.close()
    if pipeline.error is not None:
        raise RuntimeError(f"{variant} pipeline failed: {pipeline.error!r}") from pipeline.error
    seconds = None if finished is None or processor.first_call is None else finished - processor.first_call
    return RunResult(variant, arguments.messages, seconds, wall, dead)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000, help="input messages (default: 50000)")
    parser.add_argument("--size", type=int, default=300, help="approximate bytes per input message (default: 300)")
    parser.add_argument(
        "--partitions", type=int, default=4, help="partitions of the input and output topics (default: 4)"
    )
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated variants to run, in this order (default: {','.join(VARIANTS)})",
    )
    parser.add_argument("--repeat", type=int, default=1, help="times to run the whole list of variants (default: 1)")
    parser.add_argument("--max-in-flight", type=int, default=64, help="llm-kafka max_in_flight (default: 64)")
    parser.add_argument(
        "--max-buffered",
        type=int,
        default=None,
        help="llm-kafka max_buffered (default: the library's, 4 * max_in_flight)",
    )
    parser.add_argument(
        "--commit-interval",
        type=float,
        default=1.0,
        help="seconds between offset commits in every variant (default: 1.0)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds one run may take before it counts as failed (default: 300)",
    )
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    arguments = parser.parse_args(argv)

    arguments.variant_list = parse_variants(parser, arguments.variants, VARIANTS)
    if arguments.messages < 1 or arguments.partitions < 1 or arguments.repeat < 1:
        parser.error("--messages, --partitions and --repeat must be at least 1")
    if not 1 <= arguments.repeat <= 10:
        parser.error("--repeat must be between 1 and 10")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    configure_logging(arguments.verbose)
    load_before = load_average()

    with broker() as bootstrap:
        input_topic = new_topic(bootstrap, "w1-in", arguments.partitions)
        seconds = produce_bulk(
            bootstrap,
            input_topic,
            arguments.messages,
            arguments.partitions,
            lambda index: json_message(index, arguments.size),
        )
        print(
            f"produced {arguments.messages} messages of {len(json_message(0, arguments.size))} bytes to "
            f"{input_topic} in {seconds:.1f} s",
            flush=True,
        )

        results: list[RunResult] = []
        for round_number in range(arguments.repeat):
            for variant in arguments.variant_list:
                output_topic = new_topic(bootstrap, f"w1-out-{variant}", arguments.partitions)
                if variant == "raw":
                    result = run_raw(bootstrap, input_topic, output_topic, arguments)
                else:
                    result = run_pipeline(bootstrap, input_topic, output_topic, variant, arguments)
                results.append(result)
                rate = f"{result.rate:.0f} msg/s" if result.rate else "did not finish"
                print(f"round {round_number + 1} {variant}: {rate} ({result.wall_seconds:.1f} s wall)", flush=True)

    print()
    rows = []
    raw_rates = [r.rate for r in results if r.variant == "raw" and r.rate]
    raw_median = statistics.median(raw_rates) if raw_rates else None
    for variant in arguments.variant_list:
        runs = [r for r in results if r.variant == variant]
        rates = [r.rate for r in runs if r.rate]
        median = statistics.median(rates) if len(rates) == len(runs) else None
        share = f"{median / raw_median:.0%}" if median and raw_median else "-"
        rows.append(
            [
                variant,
                str(arguments.messages),
                ", ".join(f"{r.seconds:.2f}" if r.seconds else "timeout" for r in runs),
                ", ".join(f"{r.rate:.0f}" if r.rate else "-" for r in runs),
                f"{median:.0f}" if median else "-",
                share,
                str(sum(r.dead_lettered for r in runs)),
            ]
        )
    print_table(
        ["variant", "messages", "seconds per run", "msg/s per run", "median msg/s", "of raw", "dead-lettered"], rows
    )
    print_run_details(load_before)
    return 0 if all(r.rate for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
