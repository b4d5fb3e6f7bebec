"""``InMemoryConsumer``: a ``ConsumerPort`` that reads an ``InMemoryBroker``'s partitions.

It joins its group on ``subscribe`` and runs every partition callback inside
``poll_batch`` on the calling thread, as the Kafka consumer does. A rebalance first revokes
the partitions the group moved away, then assigns the ones that are free. A partition with
no position starts at the committed offset, or at ``auto_offset_reset`` without one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence

from llm_kafka.engine.transport import (
    CommittedOffset,
    ConsumedRecord,
    PartitionsCallback,
    TopicPartition,
)
from llm_kafka.errors import CommitError, KafkaError
from llm_kafka.processor import RecordInfo
from llm_kafka.testing.memory.broker import InMemoryBroker
from llm_kafka.testing.memory.group import GroupMember
from llm_kafka.testing.records import StoredRecord

logger = logging.getLogger(__name__)

OFFSET_RESET_VALUES = ("earliest", "latest", "error")


def check_offset_reset(value: str) -> str:
    """Return ``value`` if it is a valid ``auto_offset_reset``; raise ``ValueError`` otherwise."""
    if value not in OFFSET_RESET_VALUES:
        raise ValueError(f"auto_offset_reset must be earliest, latest or error, got {value!r}")
    return value


def _ignore(partitions: list[TopicPartition]) -> None:
    pass


class InMemoryConsumer:
    """A group member of one ``InMemoryBroker``; call every method from one thread."""

    def __init__(self, broker: InMemoryBroker, group_id: str, *, auto_offset_reset: str = "earliest") -> None:
        self._broker = broker
        self._group_id = group_id
        self._auto_offset_reset = check_offset_reset(auto_offset_reset)
        self._topics: frozenset[str] = frozenset()
        self._member: GroupMember | None = None
        self._assignment: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self._on_assign: PartitionsCallback = _ignore
        self._on_revoke: PartitionsCallback = _ignore
        self._on_lost: PartitionsCallback = _ignore
        self._closed = False

    @property
    def assignment(self) -> set[TopicPartition]:
        """The partitions this consumer currently reads."""
        return set(self._assignment)

    def subscribe(
        self,
        topics: Iterable[str],
        on_assign: PartitionsCallback,
        on_revoke: PartitionsCallback,
        on_lost: PartitionsCallback,
    ) -> None:
        """Join the group for ``topics``; the callbacks run later, inside ``poll_batch``."""
        self._require_open()
        if self._member is not None:
            raise KafkaError("consumer is already subscribed; create a new consumer to change topics")
        self._topics = frozenset(topics)
        self._on_assign, self._on_revoke, self._on_lost = on_assign, on_revoke, on_lost
        with self._broker._changed:
            self._member = self._broker._group(self._group_id).join(self._topics, time.monotonic())
            self._broker._changed.notify_all()

    def poll_batch(self, max_records: int, timeout: float) -> list[ConsumedRecord]:
        """Run pending partition callbacks, then return up to ``max_records`` records.

        Waits at most ``timeout`` seconds for records when none are ready.
        """
        self._require_open()
        deadline = time.monotonic() + timeout
        while True:
            self._rebalance()
            with self._broker._changed:
                records = self._fetch(max_records)
                remaining = deadline - time.monotonic()
                if records or remaining <= 0:
                    return records
                # Woken by a new record or a group change; the rebalance step runs again.
                self._broker._changed.wait(remaining)

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        """Stop returning records of ``partitions`` until ``resume``; unassigned ones are ignored."""
        self._paused.update(partition for partition in partitions if partition in self._assignment)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        """Return records of ``partitions`` again."""
        self._paused.difference_update(partitions)

    def committed(self, partitions: Sequence[TopicPartition], timeout: float) -> dict[TopicPartition, CommittedOffset]:
        """Return the group's committed offsets of ``partitions``; partitions with none are absent."""
        with self._broker._lock:
            group = self._broker._group(self._group_id)
            return {partition: group.committed[partition] for partition in partitions if partition in group.committed}

    def commit(self, offsets: Mapping[TopicPartition, CommittedOffset]) -> None:
        """Store ``offsets`` in the group; raise ``CommitError`` if this member was expelled."""
        if not offsets:
            return
        self._require_open()
        for (topic, partition), entry in offsets.items():
            # confluent-kafka raises TypeError for such offsets too; storing them would hide the bug.
            if not isinstance(entry, CommittedOffset) or not isinstance(entry.offset, int) or entry.offset < 0:
                raise TypeError(
                    f"commit of {topic}[{partition}] needs a CommittedOffset with an offset >= 0, got {entry!r}"
                )
        with self._broker._lock:
            if self._member is not None and self._member.expelled:
                raise CommitError(
                    f"commit of {dict(offsets)} failed: this consumer was expelled from group "
                    f"{self._group_id} (it rejoins at its next poll_batch)"
                )
            self._broker._check_commit_fault(self._group_id)
            self._broker._group(self._group_id).committed.update(offsets)

    def close(self) -> None:
        """Revoke the assigned partitions, leave the group and stop; safe to call twice.

        ``on_revoke`` runs here, as it does inside the Kafka consumer's ``close``.
        """
        if self._closed:
            return
        try:
            if self._assignment and self._member is not None and not self._member.expelled:
                self._on_revoke(sorted(self._assignment))
        finally:
            self._closed = True
            with self._broker._changed:
                if self._member is not None:
                    self._broker._group(self._group_id).leave(self._member)
                self._broker._changed.notify_all()
            self._assignment.clear()

    def _require_open(self) -> None:
        if self._closed:
            raise KafkaError("consumer is closed")

    def _rebalance(self) -> None:
        member = self._member
        if member is None:
            return

        with self._broker._changed:
            # Members that went too long without a poll leave the group, this one included,
            # as the Kafka consumer leaves when its own max.poll.interval.ms runs out.
            self._expel_stale_members()

        if member.expelled:
            member = self._lose_partitions()

        with self._broker._changed:
            group = self._broker._group(self._group_id)
            member.last_poll = time.monotonic()
            group.rebalance(self._broker._partitions_of(topic for m in group.members.values() for topic in m.topics))
            targeted = group.targeted_at(member)
            revoked = self._assignment - targeted

        if revoked:
            self._revoke(member, revoked)

        with self._broker._changed:
            added = {partition for partition in targeted - self._assignment if group.owner_of(partition) is None}
            member.owned.update(added)
            self._assignment.update(added)

        if added:
            logger.info("in-memory consumer of group %s assigned %s", self._group_id, sorted(added))
            self._on_assign(sorted(added))

    def _revoke(self, member: GroupMember, revoked: set[TopicPartition]) -> None:
        logger.info("in-memory consumer of group %s revoking %s", self._group_id, sorted(revoked))
        try:
            self._on_revoke(sorted(revoked))
        finally:
            with self._broker._changed:
                member.owned.difference_update(revoked)
                self._broker._changed.notify_all()
            self._drop(revoked)

    def _lose_partitions(self) -> GroupMember:
        lost = set(self._assignment)
        self._drop(lost)
        with self._broker._changed:
            member = self._member = self._broker._group(self._group_id).join(self._topics, time.monotonic())
            self._broker._changed.notify_all()
        if lost:
            logger.warning("in-memory consumer of group %s lost %s", self._group_id, sorted(lost))
            self._on_lost(sorted(lost))
        return member

    def _drop(self, partitions: set[TopicPartition]) -> None:
        self._assignment.difference_update(partitions)
        self._paused.difference_update(partitions)
        for partition in partitions:
            self._positions.pop(partition, None)

    def _expel_stale_members(self) -> None:
        group = self._broker._group(self._group_id)
        limit = time.monotonic() - self._broker.max_poll_interval_s
        for other in list(group.members.values()):
            if other.last_poll < limit:
                logger.warning(
                    "in-memory group %s expels member %s: no poll for over max_poll_interval_s=%.1f",
                    self._group_id,
                    other.member_id,
                    self._broker.max_poll_interval_s,
                )
                group.expel(other)

    def _fetch(self, max_records: int) -> list[ConsumedRecord]:
        readable = sorted(self._assignment - self._paused)
        logs = {partition: self._broker._logs[partition[0]][partition[1]] for partition in readable}
        for partition in readable:
            if partition not in self._positions:
                self._positions[partition] = self._start_offset(partition, len(logs[partition]))

        # Round-robin over the partitions, one record at a time, so no partition starves.
        records: list[ConsumedRecord] = []
        progressed = True
        while len(records) < max_records and progressed:
            progressed = False
            for partition in readable:
                position = self._positions[partition]
                if position >= len(logs[partition]) or len(records) >= max_records:
                    continue
                records.append(_consumed(logs[partition][position]))
                self._positions[partition] = position + 1
                progressed = True
        return records

    def _start_offset(self, partition: TopicPartition, end: int) -> int:
        committed = self._broker._group(self._group_id).committed.get(partition)
        if committed is not None:
            return committed.offset
        if self._auto_offset_reset == "earliest":
            return 0
        if self._auto_offset_reset == "latest":
            return end
        raise KafkaError(
            f"no committed offset for {partition[0]}[{partition[1]}] in group {self._group_id} "
            f"and auto_offset_reset is 'error'"
        )


def _consumed(record: StoredRecord) -> ConsumedRecord:
    info = RecordInfo(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        headers=record.headers,
        timestamp_ms=record.timestamp_ms,
    )
    return ConsumedRecord(info=info, value=record.value)
