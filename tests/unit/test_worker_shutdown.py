"""Worker shutdown on the in-memory transport: the close watchdog and abandoned work."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from llm_kafka import BaseProcessor, PipelineSettings, ProcessingContext
from llm_kafka.engine.handler import MessageHandler, ProcessorRouter
from llm_kafka.engine.loop_thread import LoopThread
from llm_kafka.engine.transport import CommittedOffset
from llm_kafka.messages import MessageFormat
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.testing import InMemoryBroker, InMemoryConsumer
from llm_kafka.worker import PipelineWorker

GROUP = "shutdown"


class HangingCloseConsumer(InMemoryConsumer):
    """An in-memory consumer whose ``close`` hangs until released, like a broker that never responds."""

    def __init__(self, broker: InMemoryBroker) -> None:
        super().__init__(broker, GROUP)
        self.release = threading.Event()

    def close(self) -> None:
        self.release.wait(30)
        super().close()


class WaitsForever(BaseProcessor):
    async def process(self, data: Any, context: ProcessingContext) -> Any:
        if data == "stuck":
            await asyncio.sleep(60)
        return data


def make_broker(*contents: str) -> InMemoryBroker:
    broker = InMemoryBroker()
    for topic in ("in", "out", "dlq"):
        broker.create_topic(topic)
    for number, content in enumerate(contents):
        broker.send("in", {"id": f"m{number}", "content": content})
    return broker


def run_then_stop(broker: InMemoryBroker, consumer: InMemoryConsumer, **settings: Any) -> float:
    """Run a worker until it has taken the input, stop it, and return how long stopping took."""
    pipeline_settings = PipelineSettings(
        input_topics=["in"], output_topic="out", dead_letter_topic="dlq", poll_timeout_s=0.01, **settings
    )
    loop_thread = LoopThread()
    executor = ThreadPoolExecutor(2)
    handler = MessageHandler(ProcessorRouter({}, WaitsForever()), MessageFormat(), executor)
    producer = broker.transport(GROUP).producer()
    worker = PipelineWorker(pipeline_settings, consumer, producer, handler, loop_thread.loop, MetricsCollector())
    runner = threading.Thread(target=worker.run)
    runner.start()
    time.sleep(0.5)

    started = time.monotonic()
    worker.request_stop()
    runner.join(20)
    elapsed = time.monotonic() - started

    loop_thread.close()
    executor.shutdown(wait=False)
    producer.close(1.0)
    assert not runner.is_alive()
    return elapsed


def test_close_watchdog_gives_up_on_a_hanging_close(caplog: pytest.LogCaptureFixture) -> None:
    broker = make_broker("a", "b")
    consumer = HangingCloseConsumer(broker)

    with caplog.at_level(logging.ERROR, logger="llm_kafka.worker"):
        elapsed = run_then_stop(broker, consumer, close_timeout_s=0.5, shutdown_timeout_s=5)
    consumer.release.set()

    assert elapsed < 5
    assert "consumer close did not finish within close_timeout_s=0.5s" in caplog.text


def test_work_running_at_the_shutdown_timeout_stays_uncommitted() -> None:
    broker = make_broker("a", "stuck", "c")
    consumer = broker.transport(GROUP).consumer()

    elapsed = run_then_stop(broker, consumer, ordering="unordered", shutdown_timeout_s=1.0)

    assert 1.0 <= elapsed < 10
    # Offset 1 is still running, so the commit stops there and its metadata marks 2 as done.
    assert broker.committed_offsets(GROUP, "in") == {0: CommittedOffset(1, "llmk1:1:")}
    assert sorted(record.json()["id"] for record in broker.records("out")) == ["m0", "m2"]
