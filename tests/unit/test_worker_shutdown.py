"""Worker shutdown with stand-in transports: the close watchdog and abandoned work."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from llm_kafka import BaseProcessor, PipelineSettings, ProcessingContext
from llm_kafka.engine.handler import MessageHandler, ProcessorRouter
from llm_kafka.engine.loop_thread import LoopThread
from llm_kafka.engine.transport import CommittedOffset, ConsumedRecord, DeliveryCallback, Headers, PartitionsCallback
from llm_kafka.messages import MessageFormat
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.processor import RecordInfo
from llm_kafka.worker import PipelineWorker

TP = ("in", 0)


class StandInConsumer:
    """Assigns one partition, hands out ``values`` once, and can hang in ``close``."""

    def __init__(self, values: list[str], close_hangs: bool) -> None:
        self.values = values
        self.close_hangs = close_hangs
        self.commits: list[dict[tuple[str, int], CommittedOffset]] = []
        self.release_close = threading.Event()
        self._on_assign: PartitionsCallback | None = None

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
    ) -> None:
        self._on_assign = on_assign

    def poll_batch(self, max_records: int, timeout: float) -> list[ConsumedRecord]:
        if self._on_assign is not None:
            self._on_assign([TP])
            self._on_assign = None
        records = [
            ConsumedRecord(RecordInfo(*TP, offset), f'{{"id": "m{offset}", "content": "{value}"}}'.encode())
            for offset, value in enumerate(self.values)
        ]
        self.values = []
        time.sleep(timeout)
        return records

    def pause(self, partitions: Sequence[tuple[str, int]]) -> None:
        pass

    def resume(self, partitions: Sequence[tuple[str, int]]) -> None:
        pass

    def committed(
        self, partitions: Sequence[tuple[str, int]], timeout: float
    ) -> dict[tuple[str, int], CommittedOffset]:
        return {}

    def commit(self, offsets: Mapping[tuple[str, int], CommittedOffset]) -> None:
        self.commits.append(dict(offsets))

    def close(self) -> None:
        if self.close_hangs:
            self.release_close.wait(30)


class InstantProducer:
    """Reports every record delivered, from its own thread."""

    def produce(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        headers: Headers | None = None,
        on_delivery: DeliveryCallback,
    ) -> None:
        threading.Thread(target=on_delivery, args=(None,)).start()

    def flush(self, timeout: float) -> int:
        return 0

    def topics(self, timeout: float) -> set[str]:
        return {"in", "out", "dlq"}

    def close(self, timeout: float) -> int:
        return 0


class WaitsForever(BaseProcessor):
    async def process(self, data: Any, context: ProcessingContext) -> Any:
        if data == "stuck":
            await asyncio.sleep(60)
        return data


def run_worker(consumer: StandInConsumer, **settings: Any) -> tuple[PipelineWorker, float]:
    pipeline_settings = PipelineSettings(
        input_topics=["in"], output_topic="out", dead_letter_topic="dlq", poll_timeout_s=0.01, **settings
    )
    loop_thread = LoopThread()
    executor = ThreadPoolExecutor(2)
    handler = MessageHandler(ProcessorRouter({}, WaitsForever()), MessageFormat(), executor)
    worker = PipelineWorker(
        pipeline_settings, consumer, InstantProducer(), handler, loop_thread.loop, MetricsCollector()
    )
    runner = threading.Thread(target=worker.run)
    runner.start()
    time.sleep(0.5)
    started = time.monotonic()
    worker.request_stop()
    runner.join(20)
    elapsed = time.monotonic() - started
    loop_thread.close()
    executor.shutdown(wait=False)
    assert not runner.is_alive()
    return worker, elapsed


def test_close_watchdog_gives_up_on_a_hanging_close(caplog: pytest.LogCaptureFixture) -> None:
    consumer = StandInConsumer(["a", "b"], close_hangs=True)
    with caplog.at_level(logging.ERROR, logger="llm_kafka.worker"):
        _, elapsed = run_worker(consumer, close_timeout_s=0.5, shutdown_timeout_s=5)
    consumer.release_close.set()

    assert elapsed < 5
    assert "consumer close did not finish within close_timeout_s=0.5s" in caplog.text


def test_work_running_at_the_shutdown_timeout_stays_uncommitted() -> None:
    consumer = StandInConsumer(["a", "stuck", "c"], close_hangs=False)
    _, elapsed = run_worker(consumer, ordering="unordered", shutdown_timeout_s=1.0)

    assert 1.0 <= elapsed < 10
    assert consumer.commits[-1] == {TP: CommittedOffset(1, "llmk1:1:")}
