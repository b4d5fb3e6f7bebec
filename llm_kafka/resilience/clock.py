"""The clock that retries, rate limits and circuit breakers wait on.

A clock has ``monotonic()``, ``sleep(seconds)`` and ``async asleep(seconds)``. Production
code uses ``SystemClock``. Tests pass ``llm_kafka.testing.FakeClock``, whose time moves only
when slept on, so a retry or breaker test with long waits runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """A source of monotonic time with blocking and async sleeps."""

    def monotonic(self) -> float:
        """Return the current time in seconds; only differences are meaningful."""

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""


class SystemClock:
    """The real clock: ``time.monotonic``, ``time.sleep`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        """Return seconds from ``time.monotonic``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``."""
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``."""
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
