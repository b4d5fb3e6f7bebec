"""A per-message deadline that every LLM call made while handling the message shares.

The pipeline (or any caller) opens ``deadline_after(seconds)`` around a message's work;
``LLMClient`` then bounds each attempt's timeout, its backoff sleeps, its rate-limit waits
and its fallbacks by the time left, and raises ``DeadlineExceededError`` when none is left.
The deadline lives in a context variable, so it follows the work into ``asyncio`` tasks.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("llm_kafka_deadline", default=None)


@contextmanager
def deadline_after(seconds: float) -> Iterator[float]:
    """Set a deadline ``seconds`` from now for the block; yield it as a ``time.monotonic()`` value.

    An enclosing, earlier deadline stays in force.
    """
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    if outer is not None:
        deadline = min(deadline, outer)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def current_deadline() -> float | None:
    """Return the deadline in force (a ``time.monotonic()`` value), or None when there is none."""
    return _deadline.get()
