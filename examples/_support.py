"""Helpers the small examples share to run themselves end to end on one machine.

They start what is missing (a local Kafka broker unless KAFKA_BOOTSTRAP_SERVERS is set, the
local LLM server unless OPENAI_API_KEY is set), create topics, produce sample records and
read the results. None of this is needed to use llm-kafka: a service of your own builds its
``Pipeline`` and calls ``run()``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from confluent_kafka import Consumer, Producer

from llm_kafka import LLMClient, Pipeline
from llm_kafka.testing.kafka_broker import broker_from_environment, create_topic
from llm_kafka.testing.llm_server import LocalLLMServer


@contextmanager
def kafka_bootstrap_servers() -> Iterator[str]:
    """Yield KAFKA_BOOTSTRAP_SERVERS, or the address of a local broker started for the run."""
    broker = broker_from_environment()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@contextmanager
def llm_client(model: str) -> Iterator[LLMClient]:
    """Yield a client for OpenAI when OPENAI_API_KEY is set, else for a local LLM server."""
    if os.environ.get("OPENAI_API_KEY"):
        print(f"LLM: OpenAI model {model} (OPENAI_API_KEY is set)")
        yield LLMClient("openai", model)
        return

    print("LLM: the local LLM server, whose answers are derived from a hash of each prompt")
    with LocalLLMServer() as server:
        yield LLMClient("openai", model, api_key="local", base_url=server.openai_base_url)


def create_topics(bootstrap_servers: str, prefix: str, names: Iterable[str]) -> dict[str, str]:
    """Create one topic per name, named ``{prefix}.{name}.{random suffix}``; return them by name."""
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{prefix}.{name}.{suffix}" for name in names}
    for topic in topics.values():
        create_topic(bootstrap_servers, topic)
    return topics


def produce_json(bootstrap_servers: str, topic: str, messages: Iterable[Mapping[str, Any]]) -> None:
    """Produce each message as a JSON record keyed by its ``id``, and wait for the acknowledgements."""
    producer = Producer({"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all"})
    for message in messages:
        producer.produce(topic, key=str(message["id"]).encode(), value=json.dumps(message).encode())
    remaining = producer.flush(30)
    if remaining:
        raise RuntimeError(f"{remaining} records to {topic} were not acknowledged within 30 s")


def read_json(
    bootstrap_servers: str, topics: Iterable[str], expected: int, timeout_s: float = 60.0
) -> list[tuple[str, Any]]:
    """Read ``(topic, value)`` pairs from the start of ``topics`` until ``expected`` arrived or time ran out."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"example-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(list(topics))
    records: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            value = message.value()
            records.append((str(message.topic()), json.loads(value) if value else None))
    finally:
        consumer.close()
    return records


def settled_count(pipeline: Pipeline) -> int:
    """Return how many records the pipeline has produced to the output or dead-letter topic."""
    snapshot = pipeline.metrics.snapshot()
    return int(snapshot.counter("messages.processed") + snapshot.counter("messages.dead_lettered"))


def run_until_settled(pipeline: Pipeline, expected: int, timeout_s: float = 120.0) -> None:
    """Run ``pipeline`` on a background thread until ``expected`` records are settled, then stop it."""
    pipeline.start()
    deadline = time.monotonic() + timeout_s
    try:
        while settled_count(pipeline) < expected and time.monotonic() < deadline and pipeline.error is None:
            time.sleep(0.1)
    finally:
        pipeline.stop(timeout=60)
    if pipeline.error is not None:
        raise RuntimeError(f"the pipeline stopped with an error: {pipeline.error!r}") from pipeline.error
    if settled_count(pipeline) < expected:
        raise TimeoutError(f"only {settled_count(pipeline)} of {expected} records settled within {timeout_s} s")
