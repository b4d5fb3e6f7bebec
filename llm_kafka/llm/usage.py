"""Per-message totals of token usage and cost, read by the pipeline after a message's hooks.

``LLMClient`` adds every call's usage and cost to the ``UsageTracker`` active in the calling
context. The pipeline activates one tracker per message, runs the hooks in that context and
then reads ``tracker.summary()``, so the totals cover retries, repairs and every call the
hooks made. Context variables are copied into ``asyncio`` tasks and ``asyncio.to_thread``
calls, but not into ``ThreadPoolExecutor.submit``: submit ``contextvars.copy_context().run``.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from llm_kafka.llm.types import Usage

_current_tracker: contextvars.ContextVar[UsageTracker | None] = contextvars.ContextVar(
    "llm_kafka_usage_tracker", default=None
)


@dataclass(frozen=True)
class UsageSummary:
    """Totals of one tracker: tokens, cost, and how many provider calls produced them.

    ``cost`` is None when no call had a price, and ``cost_complete`` is false when at least
    one call had no price, so the cost is a lower bound.
    """

    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    cost_complete: bool = True
    calls: int = 0
    cached_calls: int = 0

    def to_metadata(self) -> dict[str, Any]:
        """Return the totals as a JSON-compatible dict for an output record's metadata."""
        return {
            "input_tokens": self.usage.input_tokens,
            "output_tokens": self.usage.output_tokens,
            "cached_input_tokens": self.usage.cached_input_tokens,
            "reasoning_tokens": self.usage.reasoning_tokens,
            "cost": self.cost,
            "cost_complete": self.cost_complete,
            "llm_calls": self.calls,
            "cached_calls": self.cached_calls,
        }


class UsageTracker:
    """Thread-safe running totals of token usage and cost.

    Example::

        with track_usage() as tracker:
            client.complete("Summarize ...")
        print(tracker.summary().to_metadata())
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()
        self._cost: float | None = None
        self._cost_complete = True
        self._calls = 0
        self._cached_calls = 0

    def add(self, usage: Usage, cost: float | None, *, calls: int = 1, cached: bool = False) -> None:
        """Add the usage and cost of ``calls`` provider calls; ``cost`` None means unpriced."""
        with self._lock:
            self._usage = self._usage + usage
            if cost is not None:
                self._cost = (self._cost or 0.0) + cost
            elif calls > 0 and not cached:
                self._cost_complete = False
            self._calls += calls
            if cached:
                self._cached_calls += 1

    def summary(self) -> UsageSummary:
        """Return a copy of the totals so far."""
        with self._lock:
            return UsageSummary(
                usage=self._usage,
                cost=self._cost,
                cost_complete=self._cost_complete,
                calls=self._calls,
                cached_calls=self._cached_calls,
            )

    @contextmanager
    def activate(self) -> Iterator[UsageTracker]:
        """Make this tracker the current one in the calling context until the block ends."""
        token = _current_tracker.set(self)
        try:
            yield self
        finally:
            _current_tracker.reset(token)


@contextmanager
def track_usage() -> Iterator[UsageTracker]:
    """Activate a new ``UsageTracker`` for the block and yield it."""
    with UsageTracker().activate() as tracker:
        yield tracker


def current_tracker() -> UsageTracker | None:
    """Return the tracker active in the calling context, or None outside any tracked block."""
    return _current_tracker.get()


def current_usage() -> UsageSummary | None:
    """Return the totals of the tracker active in the calling context, or None if none is."""
    tracker = _current_tracker.get()
    return None if tracker is None else tracker.summary()
