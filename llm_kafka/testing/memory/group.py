"""Consumer groups of the in-memory broker: members, the target assignment and commits.

A group stores its committed offsets and decides which member should own each partition.
The assignment is balanced and sticky: a partition stays with its owner unless that owner
has more than its share. Handing a partition over is cooperative, as with Kafka's
``cooperative-sticky`` assignor: the old owner revokes it in its own ``poll_batch`` before
the new owner is given it in its ``poll_batch``. The broker's lock guards every method.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from llm_kafka.engine.transport import CommittedOffset, TopicPartition

_member_ids = itertools.count(1)


@dataclass
class GroupMember:
    """One consumer's membership: its subscription and the partitions the group gave it."""

    member_id: str
    topics: frozenset[str]
    last_poll: float
    owned: set[TopicPartition] = field(default_factory=set)
    expelled: bool = False


class ConsumerGroup:
    """The members, target assignment and committed offsets of one group id."""

    def __init__(self, group_id: str) -> None:
        self.group_id = group_id
        self.members: dict[str, GroupMember] = {}
        self.target: dict[TopicPartition, str] = {}
        self.committed: dict[TopicPartition, CommittedOffset] = {}

    def join(self, topics: frozenset[str], now: float) -> GroupMember:
        """Add a member subscribed to ``topics``; the next ``rebalance`` gives it partitions."""
        member = GroupMember(f"{self.group_id}-member-{next(_member_ids)}", topics, now)
        self.members[member.member_id] = member
        return member

    def leave(self, member: GroupMember) -> None:
        """Remove ``member`` and free its partitions for the others."""
        self.members.pop(member.member_id, None)
        member.owned.clear()

    def expel(self, member: GroupMember) -> None:
        """Remove ``member`` as Kafka does when it misses ``max.poll.interval.ms``.

        Its partitions are free at once; the consumer learns it lost them at its next poll,
        and its commits fail until it rejoins.
        """
        self.leave(member)
        member.expelled = True

    def owner_of(self, partition: TopicPartition) -> GroupMember | None:
        """Return the member that currently consumes ``partition``, if any."""
        for member in self.members.values():
            if partition in member.owned:
                return member
        return None

    def rebalance(self, partitions: list[TopicPartition]) -> None:
        """Recompute the target owner of every partition of the members' subscribed topics.

        Worked example: A owns p0 and p1, and B joins. The share is ceil(2 / 2) = 1, so A
        keeps p0 and p1 is targeted at B. B gets p1 only after A has revoked it.
        """
        members = list(self.members.values())
        if not members:
            self.target = {}
            return

        share = math.ceil(len(partitions) / len(members))
        counts = {member.member_id: 0 for member in members}
        target: dict[TopicPartition, str] = {}

        for partition in partitions:
            current = self.target.get(partition)
            member = self.members.get(current) if current is not None else None
            if member is not None and partition[0] in member.topics and counts[member.member_id] < share:
                target[partition] = member.member_id
                counts[member.member_id] += 1

        for partition in partitions:
            if partition in target:
                continue
            eligible = [member for member in members if partition[0] in member.topics]
            if not eligible:
                continue
            chosen = min(eligible, key=lambda member: counts[member.member_id])
            target[partition] = chosen.member_id
            counts[chosen.member_id] += 1

        self.target = target

    def targeted_at(self, member: GroupMember) -> set[TopicPartition]:
        """Return the partitions the assignment gives ``member``."""
        return {partition for partition, owner in self.target.items() if owner == member.member_id}
