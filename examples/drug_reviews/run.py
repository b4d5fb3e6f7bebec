"""The main demo: real drug reviews through an LLM pipeline on a real Kafka broker.

It produces the reviews to an input topic, runs the pipeline with ``DrugReviewProcessor``,
shows progress, and ends with a summary and sample results. The broker is the one named by
KAFKA_BOOTSTRAP_SERVERS, or a local Apache Kafka that the demo starts. The LLM is OpenAI or
Anthropic when their API key is set, otherwise the project's local LLM server.

    python -m examples.drug_reviews.run [--limit N] [--input-file messages.jsonl]

An input file has one JSON message per line in the pipeline's input format, for example
{"id": "r1", "type": "drug_review", "content": {"drug": "Ibuprofen", "review": "Helped my
back pain, but upset my stomach.", "condition": "Back pain", "rating": "positive"}}.
Each non-blank line is produced as it is, so a line that is not a valid message goes to
the dead-letter topic like any other bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from examples.drug_reviews.dataset import load_reviews, read_jsonl_records, review_to_message
from examples.drug_reviews.processor import DrugReviewProcessor
from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings
from llm_kafka.testing.kafka_broker import broker_from_environment, create_topic
from llm_kafka.testing.llm_server import LocalLLMServer

KAFKA_LOGGER = logging.getLogger("llm_kafka.librdkafka")

# Records the demo adds to show the dead-letter path: one is not JSON, one lacks the review text.
BAD_RECORDS = [
    (b"bad-1", b"this line is not JSON"),
    (b"bad-2", json.dumps({"id": "bad-2", "type": "drug_review", "content": {"drug": "Aspirin"}}).encode()),
]


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="process at most this many reviews (default: all 979)")
    parser.add_argument(
        "--input-file", type=Path, help="JSON-lines file of input messages to use instead of the reviews (format above)"
    )
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the input topic (default: 4)")
    parser.add_argument(
        "--latency", type=float, default=0.01, help="local LLM server latency in seconds (default: 0.01)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds to wait for the run to finish (default: 1800)"
    )
    parser.add_argument("--samples", type=int, default=3, help="sample results to print (default: 3)")
    return parser.parse_args(argv)


def load_records(arguments: argparse.Namespace) -> list[tuple[bytes, bytes]]:
    """Return (key, value) records: the user's file lines as they are, or the reviews plus bad records."""
    if arguments.input_file is None:
        reviews = load_reviews(limit=arguments.limit)
        messages = [review_to_message(review) for review in reviews]
        return [(str(m["id"]).encode(), json.dumps(m).encode()) for m in messages] + BAD_RECORDS

    return read_jsonl_records(arguments.input_file, limit=arguments.limit)


@contextmanager
def llm_client(latency: float) -> Iterator[LLMClient]:
    """Yield a client for the real provider whose key is set, or for a local LLM server."""
    if os.environ.get("OPENAI_API_KEY"):
        print("LLM: OpenAI (OPENAI_API_KEY is set)")
        yield LLMClient("openai", os.environ.get("LLM_KAFKA_MODEL") or None)
        return
    if os.environ.get("ANTHROPIC_API_KEY"):
        print("LLM: Anthropic (ANTHROPIC_API_KEY is set)")
        yield LLMClient("anthropic", os.environ.get("LLM_KAFKA_MODEL") or None)
        return
    with LocalLLMServer(latency=latency) as server:
        print(
            f"LLM: the project's local LLM server at {server.url} (no OPENAI_API_KEY or ANTHROPIC_API_KEY set).\n"
            "     Its answers are derived from a hash of each prompt, not from reading it."
        )
        yield LLMClient("openai", "local-model", api_key="local", base_url=server.openai_base_url)


def produce_inputs(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> int:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "logger": KAFKA_LOGGER}
    )
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} input records were not delivered to {topic}")
    return len(records)


def read_samples(bootstrap: str, topic: str, count: int) -> list[dict[str, Any]]:
    if count <= 0:
        return []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"demo-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "logger": KAFKA_LOGGER,
        }
    )
    consumer.subscribe([topic])
    samples: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    try:
        while len(samples) < count and time.monotonic() < deadline:
            record = consumer.poll(0.5)
            value = None if record is None or record.error() is not None else record.value()
            if value is not None:
                samples.append(json.loads(value))
    finally:
        consumer.close()
    return samples


def wait_for_completion(pipeline: Pipeline, total: int, timeout: float) -> tuple[float, float]:
    started = time.monotonic()
    last_line = 0.0
    processed = dead = 0.0
    while time.monotonic() - started < timeout and pipeline.error is None:
        snapshot = pipeline.metrics.snapshot()
        processed = snapshot.counter("messages.processed")
        dead = snapshot.counter("messages.dead_lettered")
        if time.monotonic() - last_line >= 1 or processed + dead >= total:
            elapsed = time.monotonic() - started
            rate = (processed + dead) / elapsed if elapsed > 0 else 0.0
            done = f"{int(processed + dead):5d}/{total} done"
            print(f"  {done}  ({int(processed)} processed, {int(dead)} dead-lettered, {rate:6.1f} msg/s)", flush=True)
            last_line = time.monotonic()
        if processed + dead >= total:
            break
        time.sleep(0.2)
    return processed, dead


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # librdkafka reports transient start-up states (coordinator loading) as warnings.
    KAFKA_LOGGER.setLevel(logging.ERROR)

    try:
        records = load_records(arguments)
    except OSError as error:
        print(f"Cannot read the input file: {error}", file=sys.stderr)
        return 2
    if arguments.input_file is None:
        print(f"Input: {len(records) - len(BAD_RECORDS)} reviews from the UCI drug review sample")
    else:
        print(f"Input: {len(records)} lines from {arguments.input_file}")

    with ExitStack() as stack:
        print(
            "Kafka: starting..."
            if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
            else "Kafka: using KAFKA_BOOTSTRAP_SERVERS"
        )
        broker = broker_from_environment()
        stack.callback(broker.stop)
        bootstrap = broker.bootstrap_servers
        print(f"Kafka: broker at {bootstrap}")

        run_id = uuid.uuid4().hex[:8]
        topics = {name: f"drug-reviews-{run_id}-{name}" for name in ("input", "output", "dlq")}
        create_topic(bootstrap, topics["input"], partitions=arguments.partitions)
        create_topic(bootstrap, topics["output"])
        create_topic(bootstrap, topics["dlq"])
        total = produce_inputs(bootstrap, topics["input"], records)
        note = (
            ""
            if arguments.input_file
            else f" ({len(BAD_RECORDS)} of them malformed on purpose, to show the dead-letter topic)"
        )
        print(f"Kafka: produced {total} records to {topics['input']}{note}")

        llm = stack.enter_context(llm_client(arguments.latency))
        pipeline = Pipeline(
            DrugReviewProcessor(),
            kafka=KafkaSettings(bootstrap_servers=bootstrap, group_id=f"drug-reviews-{run_id}"),
            settings=PipelineSettings(
                input_topics=[topics["input"]], output_topic=topics["output"], dead_letter_topic=topics["dlq"]
            ),
            llm=llm,
        )
        started = time.monotonic()
        pipeline.start()
        try:
            processed, dead = wait_for_completion(pipeline, total, arguments.timeout)
        finally:
            pipeline.stop(timeout=60)
        elapsed = time.monotonic() - started
        if pipeline.error is not None:
            print(f"The pipeline stopped with an error: {pipeline.error}", file=sys.stderr)
            return 1

        snapshot = pipeline.metrics.snapshot()
        print("\nSummary")
        print(f"  records consumed:       {int(snapshot.counter('messages.consumed'))}")
        print(f"  processed to output:    {int(processed)}  ({topics['output']})")
        print(f"  sent to dead letters:   {int(dead)}  ({topics['dlq']})")
        print(f"  elapsed:                {elapsed:.1f} s, {(processed + dead) / elapsed:.1f} messages/s")
        tokens_in, tokens_out = int(snapshot.counter("llm.input_tokens")), int(snapshot.counter("llm.output_tokens"))
        print(f"  LLM tokens in/out:      {tokens_in} / {tokens_out}")
        print("\nSample results")
        for sample in read_samples(bootstrap, topics["output"], min(arguments.samples, int(processed))):
            print("  " + json.dumps({"id": sample["id"], "result": sample["result"]}, ensure_ascii=False))
        return 0 if processed + dead >= total else 1


if __name__ == "__main__":
    sys.exit(main())
