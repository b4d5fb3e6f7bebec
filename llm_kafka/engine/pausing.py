"""``PauseState``: which partitions the engine has paused, and why.

A partition is paused while it has at least one reason (its buffer is full, its commit
metadata would overflow, the LLM provider cannot take calls, the worker is shutting down)
and resumed when the last reason goes. Only partitions paused here are ever resumed, so a
pause made by someone else is left alone. After a rebalance, ``assign`` returns the newly
assigned partitions that must be paused at once, because an assignment starts unpaused.

Not thread-safe: used on the poll thread only.
"""

from __future__ import annotations

from collections.abc import Iterable

from llm_kafka.engine.transport import TopicPartition

# Reasons that apply to every assigned partition, as opposed to one partition.
GLOBAL_REASONS = frozenset({"llm", "stopping"})


class PauseState:
    """Tracks pause reasons per partition and reports what to pause and resume."""

    def __init__(self) -> None:
        self._assigned: set[TopicPartition] = set()
        self._reasons: dict[TopicPartition, set[str]] = {}
        self._global: set[str] = set()
        self._paused: set[TopicPartition] = set()

    @property
    def paused(self) -> frozenset[TopicPartition]:
        """The partitions currently paused by the engine."""
        return frozenset(self._paused)

    def assign(self, partitions: Iterable[TopicPartition]) -> list[TopicPartition]:
        """Add assigned partitions; return those that must be paused at once."""
        new = [partition for partition in partitions if partition not in self._assigned]
        self._assigned.update(new)
        held = [partition for partition in new if self._global or self._reasons.get(partition)]
        self._paused.update(held)
        return held

    def remove(self, partitions: Iterable[TopicPartition]) -> None:
        """Forget revoked or lost partitions and their reasons."""
        for partition in partitions:
            self._assigned.discard(partition)
            self._reasons.pop(partition, None)
            self._paused.discard(partition)

    def hold(self, partition: TopicPartition, reason: str, active: bool) -> None:
        """Add or clear ``reason`` for one partition."""
        reasons = self._reasons.setdefault(partition, set())
        if active:
            reasons.add(reason)
        else:
            reasons.discard(reason)

    def hold_all(self, reason: str, active: bool) -> None:
        """Add or clear a reason that applies to every assigned partition."""
        if reason not in GLOBAL_REASONS:
            raise ValueError(f"unknown global pause reason {reason!r}")
        if active:
            self._global.add(reason)
        else:
            self._global.discard(reason)

    def apply(self) -> tuple[list[TopicPartition], list[TopicPartition]]:
        """Return ``(to_pause, to_resume)`` and record them as done."""
        return self._changes()

    def reasons(self, partition: TopicPartition) -> set[str]:
        """Return the reasons that keep ``partition`` paused now."""
        return self._reasons.get(partition, set()) | self._global

    def _changes(self) -> tuple[list[TopicPartition], list[TopicPartition]]:
        to_pause, to_resume = [], []
        for partition in sorted(self._assigned):
            held = bool(self._global or self._reasons.get(partition))
            if held and partition not in self._paused:
                to_pause.append(partition)
            elif not held and partition in self._paused:
                to_resume.append(partition)
        self._paused.update(to_pause)
        self._paused.difference_update(to_resume)
        return to_pause, to_resume
