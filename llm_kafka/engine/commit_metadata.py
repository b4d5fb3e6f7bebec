"""The commit-metadata codec: which offsets past the committed one are already done.

Kafka stores a short string with each committed offset (4,096 bytes by default on the
broker). llm-kafka writes there the offsets that are *not* done between the committed
offset and the highest offset consumed; everything else in that range is done. A worker
that takes the partition over skips the done offsets instead of processing them again,
so a crash replays only unfinished work.

Listing the unfinished offsets rather than the done ones keeps the string short: they are
bounded by the in-flight limit and the buffer, while done offsets are not.

Format: ``llmk1:<highest - committed>:<gap>.<gap>...`` in base 36, where each gap is the
distance from the previous unfinished offset (the first from the committed offset).
Worked example: committed 100, highest consumed 110, unfinished 100, 103 and 104. The
string is ``llmk1:a:3.1``. After a restart offsets 101, 102 and 105 to 110 are skipped,
and 100, 103, 104 and everything from 111 on are processed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PREFIX = "llmk1:"

# Kafka's default offset.metadata.max.bytes is 4096. Stay below it with room to spare,
# because a commit whose metadata is too long fails for the whole request.
MAX_METADATA_BYTES = 3800


@dataclass(frozen=True)
class DoneRange:
    """Offsets in ``(committed, highest]`` are done except those in ``unfinished``."""

    committed: int
    highest: int
    unfinished: frozenset[int]

    def is_done(self, offset: int) -> bool:
        """Return True if ``offset`` was finished by an earlier owner and can be skipped."""
        return self.committed < offset <= self.highest and offset not in self.unfinished


def encode(committed: int, highest: int, unfinished: Iterable[int]) -> str:
    """Return the metadata for a commit at ``committed``; empty when nothing past it is done."""
    if highest < committed:
        return ""
    parts = []
    previous = committed
    for offset in sorted(set(unfinished)):
        if offset <= committed:
            continue
        parts.append(_base36(offset - previous))
        previous = offset
    return f"{PREFIX}{_base36(highest - committed)}:{'.'.join(parts)}"


def decode(committed: int, metadata: str) -> DoneRange | None:
    """Return the done range stored with a commit at ``committed``, or None if there is none.

    Metadata written by anything else (or damaged) is ignored: the worst case is that done
    offsets are processed again, which at-least-once delivery allows.
    """
    if not metadata.startswith(PREFIX):
        return None
    try:
        span, _, gaps = metadata[len(PREFIX) :].partition(":")
        unfinished = set()
        offset = committed
        for gap in filter(None, gaps.split(".")):
            offset += int(gap, 36)
            unfinished.add(offset)
        return DoneRange(committed, committed + int(span, 36), frozenset(unfinished))
    except ValueError:
        return None


def _base36(number: int) -> str:
    if number < 0:
        raise ValueError(f"offset distance must not be negative, got {number}")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if number == 0:
            return text
