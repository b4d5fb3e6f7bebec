"""Per-partition offset tracking: which offset is safe to commit.

A message is pending from the moment it is consumed until its output or dead-letter record
has a successful delivery report. The committable offset of a partition is the lowest
pending offset, or one past the highest consumed offset when nothing is pending. Offsets
that never reach the application (compaction gaps, transaction markers) are never
registered, so they cannot block a commit.

Worked example: offsets 10, 11, 13 consumed (12 was compacted away). 11 and 13 are done,
10 is not: the committable offset is 10. When 10 is done: 14, because 12 was never seen.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass
class _PartitionOffsets:
    pending: set[int] = field(default_factory=set)
    highest_seen: int = -1
    last_committed: int | None = None

    def committable(self) -> int | None:
        if self.pending:
            return min(self.pending)
        if self.highest_seen < 0:
            return None
        return self.highest_seen + 1


class OffsetTracker:
    """Tracks pending offsets per partition. Thread-safe.

    The consumer thread calls ``register``; delivery callbacks on the producer's thread call
    ``mark_done``. ``commit_candidates`` returns only offsets that moved since the last
    ``mark_committed``, so an idle pipeline does not commit again and again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._partitions: dict[TopicPartition, _PartitionOffsets] = {}

    def register(self, topic: str, partition: int, offset: int) -> None:
        """Record that ``offset`` was consumed and is now pending."""
        with self._lock:
            state = self._partitions.setdefault((topic, partition), _PartitionOffsets())
            state.pending.add(offset)
            state.highest_seen = max(state.highest_seen, offset)

    def mark_done(self, topic: str, partition: int, offset: int) -> bool:
        """Record that ``offset`` is done; return False if the partition is no longer tracked."""
        with self._lock:
            state = self._partitions.get((topic, partition))
            if state is None:
                return False
            state.pending.discard(offset)
            return True

    def commit_candidates(self) -> dict[TopicPartition, int]:
        """Return the offset to commit per partition, for partitions whose offset moved."""
        with self._lock:
            candidates = {}
            for key, state in self._partitions.items():
                offset = state.committable()
                if offset is not None and offset != state.last_committed:
                    candidates[key] = offset
            return candidates

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        """Record that ``offsets`` were committed successfully."""
        with self._lock:
            for key, offset in offsets.items():
                state = self._partitions.get(key)
                if state is not None:
                    state.last_committed = offset

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Stop tracking ``partitions`` after a revoke; later ``mark_done`` calls are ignored."""
        with self._lock:
            for key in partitions:
                self._partitions.pop(key, None)
