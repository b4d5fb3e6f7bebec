"""Per-partition offset tracking: which offset is safe to commit.

A message is pending from the moment it is consumed until its output or dead-letter record
has a successful delivery report. The committable offset of a partition is the lowest
pending offset, or one past the highest consumed offset when nothing is pending. Offsets
that never reach the application (compaction gaps, transaction markers) are never
registered, so they cannot block a commit.

Worked example: offsets 10, 11, 13 consumed (12 was compacted away). 11 and 13 are done,
10 is not: the committable offset is 10. When 10 is done: 14, because 12 was never seen.

With commit metadata on, each commit also carries the pending offsets past the committed
one (see ``commit_metadata``), and a partition seeded from such a commit reports the
offsets an earlier owner finished, so they are skipped instead of processed again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from llm_kafka.engine import commit_metadata
from llm_kafka.engine.commit_metadata import DoneRange
from llm_kafka.engine.transport import CommittedOffset, TopicPartition


@dataclass
class _PartitionOffsets:
    pending: set[int] = field(default_factory=set)
    highest_seen: int = -1
    last_committed: CommittedOffset | None = None
    inherited: DoneRange | None = None

    def committable(self) -> int | None:
        if self.pending:
            return min(self.pending)
        if self.highest_seen < 0:
            return None
        following = self.highest_seen + 1
        earlier = self.inherited
        if earlier is not None and earlier.is_done(following):
            # The previous owner finished the offsets after ours: start the group past them.
            later = [offset for offset in earlier.unfinished if offset > self.highest_seen]
            following = min(later, default=earlier.highest + 1)
        return following

    def metadata(self, committed: int) -> str:
        unfinished = set(self.pending)
        highest = self.highest_seen
        earlier = self.inherited
        if earlier is not None and earlier.highest > highest:
            # Keep what the previous owner knew about offsets not consumed here yet.
            unfinished.update(offset for offset in earlier.unfinished if offset > highest)
            highest = earlier.highest
        return commit_metadata.encode(committed, highest, unfinished)


class OffsetTracker:
    """Tracks pending offsets per partition. Thread-safe.

    The poll thread calls ``register``; delivery callbacks on the producer's thread call
    ``mark_done``. ``commit_candidates`` returns only offsets whose value or metadata moved
    since the last ``mark_committed``, so an idle pipeline does not commit again and again.
    """

    def __init__(self, *, with_metadata: bool = False) -> None:
        self._with_metadata = with_metadata
        self._lock = threading.Lock()
        self._partitions: dict[TopicPartition, _PartitionOffsets] = {}

    def seed(self, partition: TopicPartition, committed: CommittedOffset | None) -> None:
        """Start tracking an assigned partition from its committed offset and metadata."""
        with self._lock:
            state = self._partitions.setdefault(partition, _PartitionOffsets())
            if committed is not None and self._with_metadata:
                state.inherited = commit_metadata.decode(committed.offset, committed.metadata)

    def register(self, topic: str, partition: int, offset: int) -> bool:
        """Record that ``offset`` was consumed; return False if an earlier owner finished it.

        A finished offset is not pending: the caller skips the record.
        """
        with self._lock:
            state = self._partitions.setdefault((topic, partition), _PartitionOffsets())
            state.highest_seen = max(state.highest_seen, offset)
            if state.inherited is not None and state.inherited.is_done(offset):
                return False
            state.pending.add(offset)
            return True

    def mark_done(self, topic: str, partition: int, offset: int) -> bool:
        """Record that ``offset`` is done; return False if the partition is no longer tracked."""
        with self._lock:
            state = self._partitions.get((topic, partition))
            if state is None:
                return False
            state.pending.discard(offset)
            return True

    def highest_seen(self, partition: TopicPartition) -> int:
        """Return the highest offset of ``partition`` consumed so far, -1 if none."""
        with self._lock:
            state = self._partitions.get(partition)
            return state.highest_seen if state is not None else -1

    def pending_count(self, partition: TopicPartition) -> int:
        """Offsets of ``partition`` consumed and not yet done."""
        with self._lock:
            state = self._partitions.get(partition)
            return len(state.pending) if state is not None else 0

    def commit_candidates(self) -> dict[TopicPartition, CommittedOffset]:
        """Return what to commit per partition, for partitions whose offset or metadata moved.

        Metadata too long for the broker is left out (the commit then only replays more
        after a crash); ``metadata_overflows`` reports when the caller should take fewer records.
        """
        with self._lock:
            candidates = {}
            for key, state in self._partitions.items():
                offset = state.committable()
                if offset is None:
                    continue
                metadata = state.metadata(offset) if self._with_metadata else ""
                if len(metadata) > commit_metadata.MAX_METADATA_BYTES:
                    metadata = ""
                candidate = CommittedOffset(offset, metadata)
                if candidate != state.last_committed:
                    candidates[key] = candidate
            return candidates

    def metadata_overflows(self, partition: TopicPartition) -> bool:
        """Return True if the partition's next commit metadata would be too long."""
        with self._lock:
            state = self._partitions.get(partition)
            if state is None or not self._with_metadata:
                return False
            offset = state.committable()
            if offset is None:
                return False
            return len(state.metadata(offset)) > commit_metadata.MAX_METADATA_BYTES

    def mark_committed(self, offsets: dict[TopicPartition, CommittedOffset]) -> None:
        """Record that ``offsets`` were committed successfully."""
        with self._lock:
            for key, committed in offsets.items():
                state = self._partitions.get(key)
                if state is not None:
                    state.last_committed = committed

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Stop tracking ``partitions`` after a revoke; later ``mark_done`` calls are ignored."""
        with self._lock:
            for key in partitions:
                self._partitions.pop(key, None)
