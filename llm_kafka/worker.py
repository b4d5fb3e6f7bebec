"""``PipelineWorker``: the concurrent consume, process, produce and commit engine.

Three kinds of thread share the work, and none waits on another's slow part:

- the **poll thread** (``run``) polls the consumer, buffers records in the ``Scheduler``,
  pauses and resumes partitions, commits on a timer and handles rebalances;
- the **event loop** runs up to ``max_in_flight`` handlers at once. When one finishes, the
  next ready record starts straight away on the loop, without waiting for a poll;
- the **output writer** and the producer's delivery thread produce the results and mark
  offsets done when their delivery reports arrive.

Per partition, ``unsettled`` counts records consumed and not yet delivered (buffered,
running, or waiting for a delivery report). Revokes and shutdown wait for it to reach 0,
within their timeouts. Each assignment of a partition has an epoch. A result that arrives
after its partition was revoked carries an old epoch, so it is dropped, not produced.

NOTE: each record costs one asyncio task, one span and two thread hand-offs. So a pipeline
whose hooks do no I/O reaches only a few thousand records per second on two cores, far
below a hand-written loop (benchmark W1 in docs/benchmarks.md). Batching records per task
would be the next step; LLM-bound work (W2) is not limited by it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from llm_kafka.config import PipelineSettings
from llm_kafka.engine.handler import Failure, MessageHandler, Outcome
from llm_kafka.engine.offsets import OffsetTracker
from llm_kafka.engine.pausing import PauseState
from llm_kafka.engine.scheduler import Scheduler
from llm_kafka.engine.transport import ConsumedRecord, ConsumerPort, ProducerPort, TopicPartition
from llm_kafka.errors import CommitError, is_provider_wide
from llm_kafka.kafka.output_writer import OutputWriter
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.processor import RecordInfo

logger = logging.getLogger(__name__)

# Most records one poll returns. Larger batches cost fewer calls into librdkafka but make the
# buffer overshoot its limit by up to this many records.
_MAX_POLL_BATCH = 500

# Maximum time the poll loop goes without polling while the buffer is full. Polling keeps
# rebalance callbacks timely and the member within max.poll.interval.ms (300 s by default).
_KEEPALIVE_S = 0.5

# How often a revoke or shutdown checks whether in-flight work has settled.
_SETTLE_CHECK_S = 0.005

# How long reading the committed offsets of new partitions may take at assignment.
_COMMITTED_TIMEOUT_S = 10.0

# Minimum time the output writer gets at shutdown to produce what is queued, even when the
# shutdown timeout is spent: producing a queued record takes microseconds.
_WRITER_CLOSE_MIN_S = 1.0

# A message that failed because the whole provider did (bad credentials, exhausted quota, an
# open breaker) waits for the provider instead of going to the dead-letter topic. It sleeps
# at least _DEFER_MIN_S so that a failing provider is not called in a tight loop, at most
# _DEFER_MAX_S before it checks again, and checks every _DEFER_CHECK_S whether the worker stops.
_DEFER_MIN_S = 1.0
_DEFER_MAX_S = 60.0
_DEFER_CHECK_S = 0.5

WaitTime = Callable[[], float]


class PipelineWorker:
    """Runs the engine until ``request_stop`` is called or a fatal error happens.

    ``run`` blocks the calling thread (the poll thread) and is the only user of the consumer.
    Handlers run on ``loop``, which must be running on another thread for the whole run.
    ``llm_wait_time`` returns how long the LLM provider needs before it can take calls;
    while it is above 0 every partition is paused.
    """

    def __init__(
        self,
        settings: PipelineSettings,
        consumer: ConsumerPort,
        producer: ProducerPort,
        handler: MessageHandler,
        loop: asyncio.AbstractEventLoop,
        metrics: MetricsCollector,
        llm_wait_time: WaitTime | None = None,
    ) -> None:
        self._settings = settings
        self._consumer = consumer
        self._producer = producer
        self._handler = handler
        self._loop = loop
        self._metrics = metrics
        self._llm_wait_time = llm_wait_time

        self._lock = threading.Lock()  # guards the scheduler, epochs and unsettled counts
        self._scheduler = Scheduler(settings.ordering, settings.max_in_flight)
        self._offsets = OffsetTracker(with_metadata=settings.commit_metadata)
        self._pauses = PauseState()
        self._assigned: set[TopicPartition] = set()
        self._epochs: dict[TopicPartition, int] = {}
        self._unsettled: dict[TopicPartition, int] = {}
        self._dispatch_epoch: dict[tuple[str, int, int], int] = {}

        self._stop = threading.Event()
        self._room = threading.Event()  # set when buffered records start, so the buffer has room
        self._last_poll = time.monotonic()
        self._draining = False
        self._closing = False
        self._fatal: BaseException | None = None
        self._writer = OutputWriter(
            producer,
            output_topic=settings.output_topic,
            dead_letter_topic=settings.dead_letter_topic,
            on_settled=self._settled,
            on_fatal=self._fail,
            metrics=metrics,
        )

    def request_stop(self) -> None:
        """Ask the engine to finish in-flight work and shut down; returns at once."""
        self._stop.set()

    @property
    def in_flight(self) -> int:
        """Messages being processed now."""
        with self._lock:
            return self._scheduler.in_flight

    @property
    def assignment(self) -> list[TopicPartition]:
        """The partitions this worker owns now."""
        with self._lock:
            return sorted(self._assigned)

    def run(self) -> None:
        """Consume until stopped, then drain, flush, commit and close. Re-raises a fatal error."""
        self._consumer.subscribe(self._settings.input_topics, self._on_assign, self._on_revoke, self._on_lost)
        logger.info(
            "pipeline worker started on topics %s (max_in_flight=%d, ordering=%s)",
            self._settings.input_topics,
            self._settings.max_in_flight,
            self._settings.ordering,
        )
        next_commit = time.monotonic() + self._settings.commit_interval_s
        drain_deadline: float | None = None
        try:
            while True:
                if drain_deadline is None and (self._stop.is_set() or self._fatal is not None):
                    drain_deadline = self._begin_drain()
                if drain_deadline is not None and (self._total_unsettled() == 0 or time.monotonic() >= drain_deadline):
                    break
                self._poll()
                self._apply_pauses()
                if time.monotonic() >= next_commit:
                    self._commit()
                    next_commit = time.monotonic() + self._settings.commit_interval_s
        finally:
            self._shutdown(drain_deadline)
        if self._fatal is not None:
            raise self._fatal

    # -- poll thread: intake -------------------------------------------------------------

    def _poll(self) -> None:
        """Take what fits in the buffer; when it is full, take nothing but keep the membership alive.

        A full buffer does not pause partitions: librdkafka drops a paused partition's
        prefetched records and fetches again only after a delay, which left the slots empty
        after every resume. Instead the loop waits for room, and polls for one record at least
        every ``_KEEPALIVE_S`` so rebalance callbacks run and ``max.poll.interval.ms`` is met.
        """
        with self._lock:
            room = self._settings.buffer_limit - self._scheduler.buffered
            self._room.clear()
        timeout = self._settings.poll_timeout_s
        if room > 0:
            self._last_poll = time.monotonic()
            self._accept(self._consumer.poll_batch(min(_MAX_POLL_BATCH, room), timeout))
        elif time.monotonic() - self._last_poll >= _KEEPALIVE_S:
            self._last_poll = time.monotonic()
            self._accept(self._consumer.poll_batch(1, 0))
        else:
            self._room.wait(timeout)

    def _accept(self, records: list[ConsumedRecord]) -> None:
        if not records:
            return
        skipped = 0
        consumed: dict[str, int] = {}
        with self._lock:
            for record in records:
                info = record.info
                partition = (info.topic, info.partition)
                if partition not in self._assigned or self._draining:
                    # Fetched just before a revoke or a stop: left unregistered, so the commit
                    # stays below it and the partition's next owner reads it again.
                    continue
                consumed[info.topic] = consumed.get(info.topic, 0) + 1
                if not self._offsets.register(info.topic, info.partition, info.offset):
                    skipped += 1
                    continue
                self._unsettled[partition] = self._unsettled.get(partition, 0) + 1
                self._dispatch_epoch[(info.topic, info.partition, info.offset)] = self._epochs[partition]
                self._scheduler.add(record)
            started = self._scheduler.take()
        for topic, count in consumed.items():
            self._metrics.increment("messages.consumed", count, attributes={"topic": topic})
        if skipped:
            self._metrics.increment("messages.skipped", skipped)
            logger.debug("skipped %d records an earlier owner of the partition had finished", skipped)
        if started:
            self._loop.call_soon_threadsafe(self._start, started)

    # -- event loop: processing ----------------------------------------------------------

    def _start(self, records: list[ConsumedRecord]) -> None:
        for record in records:
            self._loop.create_task(self._process(record))

    async def _process(self, record: ConsumedRecord) -> None:
        started = time.perf_counter()
        outcome = await self._run_handler(record)
        while isinstance(outcome, Failure) and is_provider_wide(outcome.error):
            # The provider, not the message, failed: keep the slot (and the key's order), wait
            # for the provider, and try again instead of dead-lettering.
            attributes = {"topic": record.info.topic, "processor": outcome.processor}
            self._metrics.increment("messages.retried", attributes=attributes)
            if not await self._wait_for_provider():
                self._abandon(record)
                return
            outcome = await self._run_handler(record)
        attributes = {"topic": record.info.topic, "processor": outcome.processor}
        self._metrics.record_duration("processing.duration", time.perf_counter() - started, attributes)
        self._finish(record, outcome)

    async def _run_handler(self, record: ConsumedRecord) -> Outcome:
        timeout = self._settings.message_timeout_s
        try:
            return await asyncio.wait_for(self._handler.handle(record.info, record.value), timeout)
        except asyncio.TimeoutError:
            logger.warning(
                "message took longer than message_timeout_s=%ss; sending it to the dead-letter topic: %s",
                timeout,
                record.info.describe(),
            )
            error = TimeoutError(f"processing took longer than message_timeout_s={timeout}s")
            return Failure(error, "-", None, "process", 1)

    async def _wait_for_provider(self) -> bool:
        """Sleep until the LLM provider may take calls again; return False if the worker stops first."""
        wait = self._llm_wait_time() if self._llm_wait_time is not None else 0.0
        deadline = time.monotonic() + min(max(wait, _DEFER_MIN_S), _DEFER_MAX_S)
        while time.monotonic() < deadline:
            if self._draining or self._fatal is not None:
                return False
            await asyncio.sleep(min(_DEFER_CHECK_S, max(0.0, deadline - time.monotonic())))
        return not self._draining

    def _abandon(self, record: ConsumedRecord) -> None:
        """Give up on ``record`` without output: it stays uncommitted and is processed after a restart."""
        info = record.info
        logger.warning(
            "stopping while the message waits for the LLM provider; it stays uncommitted: %s", info.describe()
        )
        with self._lock:
            self._scheduler.finish(record)
            partition = (info.topic, info.partition)
            if self._dispatch_epoch.pop((info.topic, info.partition, info.offset), None) == self._epochs.get(partition):
                self._unsettled[partition] -= 1

    def _finish(self, record: ConsumedRecord, outcome: Outcome) -> None:
        info = record.info
        partition = (info.topic, info.partition)
        with self._lock:
            self._scheduler.finish(record)
            current = self._dispatch_epoch.pop((info.topic, info.partition, info.offset), None) == self._epochs.get(
                partition
            )
            started = self._scheduler.take()
        for next_record in started:
            self._loop.create_task(self._process(next_record))
        if started:
            self._room.set()
        if current:
            self._writer.write(record, outcome)
        else:
            logger.info("partition was revoked while the message ran; its result is dropped: %s", info.describe())

    # -- producer thread: settlement -----------------------------------------------------

    def _settled(self, info: RecordInfo, outcome: str, processor: str) -> None:
        if not self._offsets.mark_done(info.topic, info.partition, info.offset):
            return  # The partition was revoked meanwhile, so its final commit has already run.
        with self._lock:
            partition = (info.topic, info.partition)
            if partition in self._unsettled:
                self._unsettled[partition] -= 1
        self._metrics.increment(f"messages.{outcome}", attributes={"topic": info.topic, "processor": processor})

    def _fail(self, error: BaseException, info: RecordInfo, message_id: str | None) -> None:
        logger.error("stopping the pipeline: %s: %s", error, info.describe(message_id))
        if self._fatal is None:
            self._fatal = error
        self._stop.set()

    # -- poll thread: pausing and commits ------------------------------------------------

    def _apply_pauses(self) -> None:
        with self._lock:
            # A partition that contains half the buffer (a key stuck behind a slow message, say)
            # is paused so that the other partitions keep their share of it.
            share = max(1, self._settings.buffer_limit // 2)
            for partition in self._assigned:
                buffered = self._scheduler.buffered_in(partition)
                if buffered >= share and len(self._assigned) > 1:
                    self._pauses.hold(partition, "buffer", True)
                elif buffered <= share // 2:
                    self._pauses.hold(partition, "buffer", False)
        if self._llm_wait_time is not None:
            self._pauses.hold_all("llm", self._llm_wait_time() > 0)

        with self._lock:
            in_flight = self._scheduler.in_flight
        self._metrics.set_gauge("messages.in_flight", in_flight)

        to_pause, to_resume = self._pauses.apply()
        if to_pause:
            logger.debug("pausing %s", to_pause)
            self._consumer.pause(to_pause)
        if to_resume:
            logger.debug("resuming %s", to_resume)
            self._consumer.resume(to_resume)
        if to_pause or to_resume:
            self._metrics.set_gauge("partitions.paused", len(self._pauses.paused))

    def _commit(self, partitions: list[TopicPartition] | None = None) -> None:
        candidates = self._offsets.commit_candidates()
        if partitions is not None:
            candidates = {key: value for key, value in candidates.items() if key in partitions}
        if not candidates:
            return
        started = time.perf_counter()
        try:
            self._consumer.commit(candidates)
        except CommitError as error:
            self._metrics.increment("commits.failed")
            logger.error("offset commit failed; it is retried at the next commit: %s", error)
            return
        self._metrics.record_duration("commit.latency", time.perf_counter() - started)
        self._offsets.mark_committed(candidates)
        for partition, committed in candidates.items():
            self._pauses.hold(partition, "metadata", self._offsets.metadata_overflows(partition))
            lag = self._offsets.highest_seen(partition) + 1 - committed.offset
            self._metrics.set_gauge("consumer.lag", max(0, lag), {"topic": partition[0], "partition": partition[1]})
        logger.debug("committed offsets %s", candidates)

    # -- poll thread: rebalances ---------------------------------------------------------

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        self._metrics.increment("rebalances.assigned", len(partitions))
        committed = self._consumer.committed(partitions, _COMMITTED_TIMEOUT_S) if self._settings.commit_metadata else {}
        with self._lock:
            for partition in partitions:
                self._epochs[partition] = self._epochs.get(partition, 0) + 1
                self._unsettled[partition] = 0
                self._offsets.seed(partition, committed.get(partition))
            self._assigned.update(partitions)
        held = self._pauses.assign(partitions)
        if held:
            self._consumer.pause(held)

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        if self._closing:
            self._release(partitions)  # the final commit has run, and close leaves the group
            return
        self._metrics.increment("rebalances.revoked", len(partitions))
        self._drop_buffered(partitions)
        if not self._wait_settled(partitions, time.monotonic() + self._settings.revoke_timeout_s):
            logger.warning(
                "revoke: in-flight work of %s did not finish within revoke_timeout_s=%ss; it is dropped "
                "uncommitted and the partitions' new owner processes it again",
                partitions,
                self._settings.revoke_timeout_s,
            )
        try:
            self._commit(partitions)
        finally:
            self._release(partitions)

    def _on_lost(self, partitions: list[TopicPartition]) -> None:
        self._metrics.increment("rebalances.lost", len(partitions))
        self._drop_buffered(partitions)
        self._release(partitions)

    def _drop_buffered(self, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for partition in partitions:
                dropped = self._scheduler.drop([partition])
                if partition in self._unsettled:
                    self._unsettled[partition] -= dropped

    def _release(self, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for partition in partitions:
                self._epochs[partition] = self._epochs.get(partition, 0) + 1
                self._unsettled.pop(partition, None)
            self._assigned.difference_update(partitions)
        self._offsets.forget(partitions)
        self._pauses.remove(partitions)

    def _wait_settled(self, partitions: list[TopicPartition], deadline: float) -> bool:
        while True:
            with self._lock:
                if all(self._unsettled.get(partition, 0) <= 0 for partition in partitions):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_SETTLE_CHECK_S)

    # -- shutdown ------------------------------------------------------------------------

    def _total_unsettled(self) -> int:
        with self._lock:
            return sum(self._unsettled.values())

    def _begin_drain(self) -> float:
        logger.info("pipeline worker stopping: %d messages in flight", self.in_flight)
        self._pauses.hold_all("stopping", True)
        with self._lock:
            self._draining = True
            assigned = list(self._assigned)
        self._drop_buffered(assigned)
        if self._fatal is not None:
            return time.monotonic()  # a fatal error stops at once, leaving unfinished work uncommitted
        return time.monotonic() + self._settings.shutdown_timeout_s

    def _shutdown(self, drain_deadline: float | None) -> None:
        deadline = drain_deadline or time.monotonic() + self._settings.shutdown_timeout_s
        abandoned = self._total_unsettled()
        if abandoned:
            logger.warning("%d messages did not finish before the shutdown timeout; they stay uncommitted", abandoned)
        if not self._writer.close(max(_WRITER_CLOSE_MIN_S, deadline - time.monotonic())):
            logger.error("output writer did not finish before the shutdown timeout")
        remaining = self._producer.flush(max(0.0, deadline - time.monotonic()))
        if remaining:
            logger.error("%d records were not delivered before shutdown; their offsets stay uncommitted", remaining)
        try:
            self._commit()
        finally:
            self._closing = True
            self._close_consumer()
        logger.info("pipeline worker stopped")

    def _close_consumer(self) -> None:
        closer = threading.Thread(target=self._consumer.close, name="llm-kafka-consumer-close", daemon=True)
        closer.start()
        closer.join(self._settings.close_timeout_s)
        if closer.is_alive():
            logger.error(
                "consumer close did not finish within close_timeout_s=%ss; abandoning it (the group "
                "notices the member is gone after session.timeout.ms)",
                self._settings.close_timeout_s,
            )
