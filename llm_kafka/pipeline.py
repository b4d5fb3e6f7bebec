"""``Pipeline``: wires processors, the LLM client and the Kafka workers, and runs them.

``run`` blocks and stops cleanly on SIGINT and SIGTERM. ``start``/``stop`` run it on a
background thread, and ``arun`` runs it inside an application's own event loop, where
async processor hooks then share that loop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import Any

from llm_kafka.config import KafkaSettings, PipelineSettings
from llm_kafka.engine.handler import MessageHandler, ProcessorRouter
from llm_kafka.engine.loop_thread import LoopThread
from llm_kafka.errors import ConfigurationError
from llm_kafka.kafka.consumer import KafkaConsumerWorker
from llm_kafka.kafka.producer import KafkaProducerWorker
from llm_kafka.llm.client import LLMClient
from llm_kafka.messages import MessageFormat
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.processor import BaseProcessor
from llm_kafka.worker import PipelineWorker, SubmitCoroutine

logger = logging.getLogger(__name__)


class Pipeline:
    """Consumes JSON messages, runs them through processors, and produces results.

    ``processor`` is either one processor for every message or a mapping from message
    ``type`` to processor; ``default_processor`` takes types the mapping does not name.
    Example::

        pipeline = Pipeline(
            Summarize(),
            kafka=KafkaSettings(bootstrap_servers="127.0.0.1:9092", group_id="summaries"),
            settings=PipelineSettings(input_topics=["docs"], output_topic="summaries",
                                      dead_letter_topic="summaries.dlq"),
            llm=LLMClient("openai", "gpt-4o-mini"),
        )
        pipeline.run()
    """

    def __init__(
        self,
        processor: BaseProcessor | Mapping[str, BaseProcessor],
        *,
        kafka: KafkaSettings,
        settings: PipelineSettings,
        llm: LLMClient | None = None,
        default_processor: BaseProcessor | None = None,
        message_format: MessageFormat[Any] | None = None,
        metrics: MetricsCollector | None = None,
    ) -> None:
        if isinstance(processor, BaseProcessor):
            routes: Mapping[str, BaseProcessor] = {}
            default_processor = processor
        else:
            routes = processor
        self.router = ProcessorRouter(routes, default_processor)
        self.kafka = kafka
        self.settings = settings
        self.llm = llm
        self.message_format = message_format or MessageFormat()
        self.metrics = metrics or (
            llm.metrics if llm is not None else MetricsCollector()
        )

        # Fail at construction, not at the first message, on unsafe Kafka settings.
        kafka.consumer_config()
        kafka.producer_config()

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
            self._run_worker(loop_thread.submit)
        finally:
            restore()
            loop_thread.close()

    def start(self) -> None:
        """Run the pipeline on a background thread and return at once."""
        if self._thread is not None:
            raise RuntimeError("pipeline already started")
        self._thread = threading.Thread(
            target=self._run_in_thread, name="llm-kafka-pipeline", daemon=True
        )
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
    def error(self) -> BaseException | None:
        """The error that stopped a pipeline started with ``start()``, if any."""
        return self._error

    async def arun(self) -> None:
        """Run inside the current event loop until cancelled or ``stop()`` is called."""
        loop = asyncio.get_running_loop()

        def submit(coroutine: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coroutine, loop)

        worker_task = asyncio.ensure_future(asyncio.to_thread(self._run_worker, submit))
        try:
            await asyncio.shield(worker_task)
        except asyncio.CancelledError:
            self.stop()
            await worker_task
            raise

    def _run_in_thread(self) -> None:
        loop_thread = LoopThread()
        try:
            self._run_worker(loop_thread.submit)
        except BaseException as error:
            self._error = error
            logger.exception("pipeline stopped with an error")
        finally:
            loop_thread.close()

    def _run_worker(self, submit: SubmitCoroutine) -> None:
        producer = KafkaProducerWorker(self.kafka)
        executor = ThreadPoolExecutor(
            self.settings.worker_threads, thread_name_prefix="llm-kafka-hook"
        )
        try:
            self._check_topics(producer)
            handler = MessageHandler(
                self.router, self.message_format, executor, llm=self.llm
            )
            self._worker = PipelineWorker(
                self.settings,
                lambda **callbacks: KafkaConsumerWorker(self.kafka, **callbacks),
                producer,
                handler,
                submit,
                self.metrics,
            )
            if self._stop_requested.is_set():
                self._worker.request_stop()
            self._worker.run()
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            producer.close(self.settings.shutdown_timeout_s)

    def _check_topics(self, producer: KafkaProducerWorker) -> None:
        metadata = producer.list_topics(timeout=30.0)
        required = [
            *self.settings.input_topics,
            self.settings.output_topic,
            self.settings.dead_letter_topic,
        ]
        missing = [topic for topic in required if topic not in metadata.topics]
        if missing:
            raise ConfigurationError(
                f"topics not found on {self.kafka.bootstrap_servers}: {', '.join(missing)}. "
                f"Create them before starting the pipeline."
            )

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handle(signum: int, frame: FrameType | None) -> None:
            logger.info(
                "received %s; stopping the pipeline", signal.Signals(signum).name
            )
            self.stop()

        previous = {
            sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore
