"""``Scheduler``: which consumed records may start now, under the ordering mode and the limit.

Records wait in lanes. A lane runs one record at a time: under ``key`` ordering a lane is a
partition's key, under ``partition`` ordering the whole partition, and under ``unordered``
(or for a null key) every record has a lane of its own. A lane with waiting records and
nothing running is ready; ready lanes start in the order they became ready, up to
``max_in_flight`` records at once.

Worked example, key ordering, max_in_flight=2: records a1, a2, b1, c1 arrive (letter = key).
``take`` starts a1 and b1; a2 waits behind a1 and c1 waits for a slot. When b1 finishes,
c1 starts; when a1 finishes, a2 starts.

Not thread-safe: the caller serialises access (the worker holds one lock around it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Literal

from llm_kafka.engine.transport import ConsumedRecord, TopicPartition

Ordering = Literal["key", "partition", "unordered"]


def lane_of(record: ConsumedRecord, ordering: Ordering) -> Hashable:
    """Return the lane ``record`` runs in; records of one lane never run at the same time."""
    info = record.info
    if ordering == "partition":
        return (info.topic, info.partition)
    if ordering == "key" and info.key is not None:
        return (info.topic, info.partition, info.key)
    return (info.topic, info.partition, None, info.offset)


class Scheduler:
    """Buffers consumed records and releases them when their lane and a slot are free."""

    def __init__(self, ordering: Ordering, max_in_flight: int) -> None:
        self.ordering: Ordering = ordering
        self.max_in_flight = max_in_flight
        self._waiting: dict[Hashable, deque[ConsumedRecord]] = {}
        self._running: set[Hashable] = set()
        self._ready: deque[Hashable] = deque()
        self._buffered: dict[TopicPartition, int] = {}
        self._in_flight: dict[TopicPartition, int] = {}

    @property
    def in_flight(self) -> int:
        """Records started and not yet finished."""
        return len(self._running)

    @property
    def buffered(self) -> int:
        """Records waiting to start."""
        return sum(self._buffered.values())

    def buffered_in(self, partition: TopicPartition) -> int:
        """Records of ``partition`` waiting to start."""
        return self._buffered.get(partition, 0)

    def in_flight_in(self, partition: TopicPartition) -> int:
        """Records of ``partition`` started and not yet finished."""
        return self._in_flight.get(partition, 0)

    def add(self, record: ConsumedRecord) -> None:
        """Queue ``record`` behind the records of its lane."""
        lane = lane_of(record, self.ordering)
        queue = self._waiting.get(lane)
        if queue is None:
            queue = self._waiting[lane] = deque()
            if lane not in self._running:
                self._ready.append(lane)
        queue.append(record)
        partition = (record.info.topic, record.info.partition)
        self._buffered[partition] = self._buffered.get(partition, 0) + 1

    def take(self) -> list[ConsumedRecord]:
        """Return the records that start now, marking them running."""
        started = []
        while self._ready and len(self._running) < self.max_in_flight:
            lane = self._ready.popleft()
            queue = self._waiting[lane]
            record = queue.popleft()
            if not queue:
                del self._waiting[lane]
            self._running.add(lane)
            partition = (record.info.topic, record.info.partition)
            self._buffered[partition] -= 1
            self._in_flight[partition] = self._in_flight.get(partition, 0) + 1
            started.append(record)
        return started

    def finish(self, record: ConsumedRecord) -> None:
        """Free ``record``'s lane and slot; the next record of its lane becomes ready."""
        lane = lane_of(record, self.ordering)
        self._running.discard(lane)
        partition = (record.info.topic, record.info.partition)
        self._in_flight[partition] = self._in_flight.get(partition, 1) - 1
        if lane in self._waiting:
            self._ready.append(lane)

    def drop(self, partitions: Iterable[TopicPartition]) -> int:
        """Forget the waiting records of ``partitions``; return how many were dropped.

        Running records are not touched: their ``finish`` still frees their slot.
        """
        dropped_partitions = set(partitions)
        dropped = 0
        for lane in [lane for lane in self._waiting if _partition_of(lane) in dropped_partitions]:
            dropped += len(self._waiting.pop(lane))
        self._ready = deque(lane for lane in self._ready if lane in self._waiting)
        for partition in dropped_partitions:
            self._buffered.pop(partition, None)
        return dropped


def _partition_of(lane: Hashable) -> TopicPartition:
    topic, partition = lane[0], lane[1]  # type: ignore[index]
    return (topic, partition)
