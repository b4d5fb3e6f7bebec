"""Tests of the local Kafka broker harness against a real broker it starts."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from llm_kafka.testing.kafka_broker import (
    BOOTSTRAP_SERVERS_ENV,
    ExternalKafkaBroker,
    KafkaBrokerError,
    LocalKafkaBroker,
    broker_from_environment,
    create_topic,
    delete_topic,
    ensure_kafka_libs,
)

pytestmark = pytest.mark.kafka

MESSAGE_COUNT = 10
CONSUME_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def broker() -> Iterator[LocalKafkaBroker]:
    with LocalKafkaBroker() as local_broker:
        yield local_broker


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def topic_partition_count(bootstrap_servers: str, topic: str) -> int | None:
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(
        timeout=10
    )
    topic_metadata = metadata.topics.get(topic)
    if topic_metadata is None or topic_metadata.error is not None:
        return None
    return len(topic_metadata.partitions)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_bootstrap_servers_is_loopback(broker: LocalKafkaBroker) -> None:
    host, port = broker.bootstrap_servers.split(":")

    assert host == "127.0.0.1"
    assert int(port) > 0
    assert broker.is_running


def test_create_topic_with_three_partitions(broker: LocalKafkaBroker) -> None:
    topic = unique_name("partitions")

    broker.create_topic(topic, partitions=3)

    assert topic_partition_count(broker.bootstrap_servers, topic) == 3


def test_produce_and_consume_round_trip(broker: LocalKafkaBroker) -> None:
    topic = unique_name("round-trip")
    create_topic(broker.bootstrap_servers, topic, partitions=3)
    sent = {f"key-{index}": f"value-{index}" for index in range(MESSAGE_COUNT)}

    delivery_errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            delivery_errors.append(error)

    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "acks": "all"})
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    unsent = producer.flush(timeout=30)

    assert unsent == 0
    assert delivery_errors == []

    consumer = Consumer(
        {
            "bootstrap.servers": broker.bootstrap_servers,
            "group.id": unique_name("round-trip-group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    received: dict[str, str] = {}
    partitions_seen: set[int] = set()
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while len(received) < MESSAGE_COUNT and time.monotonic() < deadline:
            message = consumer.poll(timeout=1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            raw_key = message.key()
            raw_value = message.value()
            assert raw_key is not None and raw_value is not None
            received[bytes(raw_key).decode()] = bytes(raw_value).decode()
            partition = message.partition()
            assert partition is not None
            partitions_seen.add(partition)
    finally:
        consumer.close()

    assert received == sent
    # The partitioner hashes these ten fixed keys to more than one of the three partitions.
    assert len(partitions_seen) > 1


def test_create_topic_rejects_existing_name(broker: LocalKafkaBroker) -> None:
    topic = unique_name("duplicate")
    broker.create_topic(topic)

    with pytest.raises(KafkaException) as raised:
        broker.create_topic(topic)

    assert raised.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_delete_topic_removes_topic(broker: LocalKafkaBroker) -> None:
    topic = unique_name("deleted")
    broker.create_topic(topic)

    delete_topic(broker.bootstrap_servers, topic)

    deadline = time.monotonic() + 15.0
    while topic_partition_count(broker.bootstrap_servers, topic) is not None:
        assert time.monotonic() < deadline, (
            f"topic {topic} still listed 15 s after delete"
        )
        time.sleep(0.2)


def test_auto_create_topics_is_off(broker: LocalKafkaBroker) -> None:
    topic = unique_name("never-created")
    producer = Producer(
        {"bootstrap.servers": broker.bootstrap_servers, "message.timeout.ms": 3000}
    )
    delivery_errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            delivery_errors.append(error)

    producer.produce(topic, value=b"lost", on_delivery=on_delivery)
    producer.flush(timeout=10)

    assert len(delivery_errors) == 1
    assert topic_partition_count(broker.bootstrap_servers, topic) is None


def test_environment_variable_starts_nothing(
    broker: LocalKafkaBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_start(self: LocalKafkaBroker) -> LocalKafkaBroker:
        raise AssertionError("broker_from_environment started a local broker")

    monkeypatch.setattr(LocalKafkaBroker, "start", fail_start)
    monkeypatch.setenv(BOOTSTRAP_SERVERS_ENV, broker.bootstrap_servers)

    handle = broker_from_environment()
    handle.stop()

    assert isinstance(handle, ExternalKafkaBroker)
    assert handle.bootstrap_servers == broker.bootstrap_servers
    # stop() on the external handle must leave the real broker running.
    assert broker.is_running


def test_stop_ends_java_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BOOTSTRAP_SERVERS_ENV, raising=False)

    handle = broker_from_environment()

    assert isinstance(handle, LocalKafkaBroker)
    pid = handle.pid
    log_path = handle.log_path
    assert pid is not None and log_path is not None
    assert process_exists(pid)
    assert log_path.is_file()

    handle.stop()

    assert not process_exists(pid)
    assert not handle.is_running
    assert not log_path.parent.parent.exists()
    with pytest.raises(KafkaBrokerError):
        _ = handle.bootstrap_servers
    handle.stop()  # A second stop does nothing.


def test_start_failure_names_log_file() -> None:
    # The config parses, so storage formats, but the broker cannot load the class.
    broker = LocalKafkaBroker(extra_config={"authorizer.class.name": "does.not.Exist"})
    try:
        with pytest.raises(KafkaBrokerError) as raised:
            broker.start()

        message = str(raised.value)
        assert "exited with code 1" in message
        assert str(broker.log_path) in message
        assert "ClassNotFoundException: does.not.Exist" in message
        assert not broker.is_running
    finally:
        broker.stop()


def test_invalid_config_fails_storage_format() -> None:
    broker = LocalKafkaBroker(extra_config={"num.partitions": "not-a-number"})
    try:
        with pytest.raises(KafkaBrokerError) as raised:
            broker.start()

        message = str(raised.value)
        assert "StorageTool format failed" in message
        assert "Invalid value not-a-number for configuration num.partitions" in message
        assert broker.pid is None
    finally:
        broker.stop()


def test_missing_java_names_install_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)

    with pytest.raises(KafkaBrokerError) as raised:
        ensure_kafka_libs(tmp_path / "libs")

    assert "java not found on PATH" in str(raised.value)
    assert "openjdk-17-jre-headless" in str(raised.value)


def test_external_broker_rejects_empty_address() -> None:
    with pytest.raises(ValueError):
        ExternalKafkaBroker("  ")
