"""Clocks for tests: ``FakeClock`` moves only when advanced or slept on, so waits are free.

A clock has ``monotonic()``, ``sleep(seconds)`` and ``async asleep(seconds)``.
``SystemClock`` is the real one. ``FakeClock`` advances its time by every sleep at once and
records the sleeps, so a test of retries with backoff or of a circuit breaker's open
period runs in milliseconds and can check the exact waits.
"""

from __future__ import annotations

import asyncio
import threading

from llm_kafka.resilience.clock import SystemClock

__all__ = ["FakeClock", "SystemClock"]


class FakeClock:
    """A monotonic clock that does not move until ``advance`` or a sleep moves it. Thread-safe.

    ``sleep`` and ``asleep`` return at once after moving the time forward; ``asleep`` still
    yields to the event loop once, so other tasks run as they would during a real wait.
    Calling the clock returns ``monotonic()``, so it fits a ``clock=`` argument that takes
    a ``Callable[[], float]``. Example::

        clock = FakeClock()
        breaker = CircuitBreaker(recovery_timeout=30, clock=clock)
        clock.advance(30)  # the breaker's open period is over
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []
        """Every wait passed to ``sleep`` and ``asleep``, in call order, in seconds."""

    def __repr__(self) -> str:
        return f"FakeClock(now={self.monotonic()})"

    def __call__(self) -> float:
        return self.monotonic()

    def monotonic(self) -> float:
        """Return the fake time in seconds."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move the time forward by ``seconds``; raises ``ValueError`` if negative."""
        if seconds < 0:
            raise ValueError(f"a monotonic clock cannot go back: advance({seconds})")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the time forward by ``seconds`` without blocking."""
        with self._lock:
            self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        """Record the wait, move the time forward by ``seconds`` and yield to the event loop once."""
        self.sleep(seconds)
        await asyncio.sleep(0)

    @property
    def slept(self) -> float:
        """Total seconds passed to ``sleep`` and ``asleep``."""
        with self._lock:
            return sum(self.sleeps)
