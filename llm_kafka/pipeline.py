"""``Pipeline``: wires processors, the LLM client and the Kafka workers, and runs them.

``run`` blocks and stops cleanly on SIGINT and SIGTERM. ``start``/``stop`` run it on a
background thread, and ``arun`` runs it inside an application's own event loop, where
async processor hooks then share that loop. The transport is Kafka by default; tests can
pass the in-memory one from ``llm_kafka.testing``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from types import FrameType
from typing import Any

from llm_kafka.config import KafkaSettings, PipelineSettings
from llm_kafka.engine.handler import MessageHandler, ProcessorRouter, ScopeMetadata
from llm_kafka.engine.loop_thread import LoopThread
from llm_kafka.engine.transport import ProducerPort, Transport
from llm_kafka.errors import ConfigurationError
from llm_kafka.kafka.transport import KafkaTransport
from llm_kafka.llm.client import LLMClient
from llm_kafka.llm.deadline import deadline_after
from llm_kafka.llm.usage import UsageTracker
from llm_kafka.messages import MessageFormat
from llm_kafka.observability.health import HealthState
from llm_kafka.observability.health_transport import HealthReportingTransport
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.observability.tracing import MessageTracer
from llm_kafka.processor import BaseProcessor
from llm_kafka.worker import PipelineWorker

logger = logging.getLogger(__name__)

# How long start-up waits for missing topics to appear. A topic created just before the
# pipeline starts can take a moment to show in every broker's metadata.
_TOPIC_CHECK_S = 5.0


class Pipeline:
    """Consumes JSON messages, runs them through processors, and produces results.

    ``processor`` is either one processor for every message or a mapping from message
    ``type`` to processor; ``default_processor`` takes types the mapping does not name.
    Example::

        pipeline = Pipeline(
            Summarize(),
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9092", group_id="summaries"),
            settings=PipelineSettings(
                input_topics=["docs"], output_topic="summaries", dead_letter_topic="summaries.dlq"
            ),
            llm=LLMClient("openai", "gpt-4o-mini"),
        )
        pipeline.run()
    """

    def __init__(
        self,
        processor: BaseProcessor | Mapping[str, BaseProcessor],
        *,
        kafka: KafkaSettings | None = None,
        settings: PipelineSettings,
        llm: LLMClient | None = None,
        default_processor: BaseProcessor | None = None,
        message_format: MessageFormat[Any] | None = None,
        metrics: MetricsCollector | None = None,
        transport: Transport | None = None,
        health: HealthState | None = None,
    ) -> None:
        if isinstance(processor, BaseProcessor):
            routes: Mapping[str, BaseProcessor] = {}
            default_processor = processor
        else:
            routes = processor
        self.router = ProcessorRouter(routes, default_processor)
        if transport is None:
            if kafka is None:
                raise ConfigurationError("a pipeline needs kafka=KafkaSettings(...) or a transport")
            transport = KafkaTransport(kafka)
        if health is not None:
            transport = HealthReportingTransport(transport, health)
            if llm is not None:
                health.watch_breaker(llm.circuit_breaker)
        self.kafka = kafka
        self.health = health
        self.transport = transport
        self.settings = settings
        self.llm = llm
        self.message_format = message_format or MessageFormat()
        self.metrics = metrics or (llm.metrics if llm is not None else MetricsCollector())

        self._worker: PipelineWorker | None = None
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._error: BaseException | None = None

    def run(self) -> None:
        """Run until SIGINT, SIGTERM or ``stop()``; then finish cleanly and return.

        Signal handlers are installed only when called from the main thread. Raises the
        error that stopped the pipeline, if one did.
        """
        loop_thread = LoopThread()
        restore = self._install_signal_handlers()
        try:
            self._run_worker(loop_thread.loop)
        finally:
            restore()
            loop_thread.close()

    def start(self) -> None:
        """Run the pipeline on a background thread and return at once."""
        if self._thread is not None:
            raise RuntimeError("pipeline already started")
        self._thread = threading.Thread(target=self._run_in_thread, name="llm-kafka-pipeline", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the pipeline to stop and wait up to ``timeout`` seconds for it (forever if None)."""
        self._stop_requested.set()
        if self._worker is not None:
            self._worker.request_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("pipeline did not stop within %ss", timeout)

    @property
    def assignment(self) -> list[tuple[str, int]]:
        """The ``(topic, partition)`` pairs the running pipeline owns; empty when not running."""
        worker = self._worker
        return worker.assignment if worker is not None else []

    @property
    def error(self) -> BaseException | None:
        """The error that stopped a pipeline started with ``start()``, if any."""
        return self._error

    async def arun(self) -> None:
        """Run inside the current event loop until cancelled or ``stop()`` is called."""
        loop = asyncio.get_running_loop()
        worker_task = asyncio.ensure_future(asyncio.to_thread(self._run_worker, loop))
        try:
            await asyncio.shield(worker_task)
        except asyncio.CancelledError:
            self.stop()
            await worker_task
            raise

    def _run_in_thread(self) -> None:
        loop_thread = LoopThread()
        try:
            self._run_worker(loop_thread.loop)
        except BaseException as error:
            self._error = error
            logger.exception("pipeline stopped with an error")
        finally:
            loop_thread.close()

    def _run_worker(self, loop: asyncio.AbstractEventLoop) -> None:
        producer = self.transport.producer()
        executor = ThreadPoolExecutor(self.settings.worker_threads, thread_name_prefix="llm-kafka-hook")
        try:
            self._check_topics(producer)
            handler = MessageHandler(
                self.router,
                self.message_format,
                executor,
                llm=self.llm,
                scope=functools.partial(_llm_scope, self.settings.message_timeout_s),
                tracer=MessageTracer(consumer_group=self.kafka.group_id if self.kafka is not None else None),
            )
            self._worker = PipelineWorker(
                self.settings,
                self.transport.consumer(),
                producer,
                handler,
                loop,
                self.metrics,
                llm_wait_time=self.llm.wait_time if self.llm is not None else None,
            )
            if self._stop_requested.is_set():
                self._worker.request_stop()
            self._worker.run()
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            producer.close(self.settings.shutdown_timeout_s)

    def _check_topics(self, producer: ProducerPort) -> None:
        required = [*self.settings.input_topics, self.settings.output_topic, self.settings.dead_letter_topic]
        deadline = time.monotonic() + _TOPIC_CHECK_S
        while True:
            existing = producer.topics(timeout=30.0)
            missing = [topic for topic in required if topic not in existing]
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if missing:
            where = self.kafka.bootstrap_servers if self.kafka is not None else f"the {self.transport.name} transport"
            raise ConfigurationError(
                f"topics not found on {where}: {', '.join(missing)}. Create them before starting the pipeline."
            )

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handle(signum: int, frame: FrameType | None) -> None:
            logger.info("received %s; stopping the pipeline", signal.Signals(signum).name)
            self.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


@contextmanager
def _llm_scope(deadline_s: float) -> Iterator[ScopeMetadata]:
    """Give one message's LLM calls a shared deadline and sum their usage for its metadata."""
    tracker = UsageTracker()

    def metadata() -> dict[str, object]:
        usage = tracker.summary()
        return {"llm_usage": usage.to_metadata()} if usage.calls or usage.cached_calls else {}

    with tracker.activate(), deadline_after(deadline_s):
        yield metadata
