"""A circuit breaker with explicit states and listeners for state changes.

CLOSED lets calls through and counts consecutive failures. After ``failure_threshold``
failures it turns OPEN: calls fail at once with ``CircuitOpenError`` for ``recovery_timeout``
seconds. Then it turns HALF_OPEN and lets exactly one probe through: success closes it,
failure reopens it with a fresh timer. Thread-safe; usable from async code too.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from llm_kafka.errors import AuthenticationError, CircuitOpenError, InvalidRequestError, StructuredOutputError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class CircuitState(str, enum.Enum):
    """The breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateListener = Callable[["CircuitBreaker", CircuitState, CircuitState], None]
"""Called as ``listener(breaker, old_state, new_state)`` after each transition, outside the lock."""

# Errors that are the caller's fault tell nothing about the provider's health.
_CALLER_ERRORS: tuple[type[BaseException], ...] = (InvalidRequestError, StructuredOutputError)


def _counts_as_failure(error: BaseException) -> bool:
    if isinstance(error, AuthenticationError):
        return True
    return not isinstance(error, _CALLER_ERRORS)


class CircuitBreaker:
    """Stops calling a failing dependency until it has had time to recover.

    ``failure_threshold`` consecutive failures open it; ``recovery_timeout`` is the open
    period in seconds. ``clock`` returns monotonic seconds and exists for tests.
    """

    def __init__(
        self,
        name: str = "default",
        *,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if recovery_timeout <= 0:
            raise ValueError(f"recovery_timeout must be positive, got {recovery_timeout}")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False
        self._listeners: list[StateListener] = []

    @property
    def state(self) -> CircuitState:
        """The current state; an expired OPEN period reads as HALF_OPEN."""
        with self._lock:
            if self._state is CircuitState.OPEN and self._open_period_over():
                return CircuitState.HALF_OPEN
            return self._state

    def add_listener(self, listener: StateListener) -> None:
        """Register ``listener`` to be called after every state change."""
        self._listeners.append(listener)

    def before_call(self) -> None:
        """Raise ``CircuitOpenError`` if no call may start now; otherwise admit one call."""
        transition = None
        with self._lock:
            if self._state is CircuitState.OPEN:
                if not self._open_period_over():
                    raise self._open_error()
                transition = self._set_state(CircuitState.HALF_OPEN)
            if self._state is CircuitState.HALF_OPEN:
                if self._probe_in_flight:
                    raise self._open_error()
                self._probe_in_flight = True
        self._notify(transition)

    def record_success(self) -> None:
        """Report that an admitted call succeeded."""
        with self._lock:
            self._failures = 0
            self._probe_in_flight = False
            transition = None
            if self._state is CircuitState.HALF_OPEN:
                transition = self._set_state(CircuitState.CLOSED)
        self._notify(transition)

    def record_failure(self, error: BaseException) -> None:
        """Report that an admitted call failed with ``error``; caller errors are not counted."""
        if not _counts_as_failure(error):
            self.record_success()
            return
        with self._lock:
            transition = None
            self._probe_in_flight = False
            if self._state is CircuitState.HALF_OPEN:
                self._opened_at = self._clock()
                transition = self._set_state(CircuitState.OPEN)
            elif self._state is CircuitState.CLOSED:
                self._failures += 1
                if self._failures >= self.failure_threshold:
                    self._opened_at = self._clock()
                    transition = self._set_state(CircuitState.OPEN)
        self._notify(transition)

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``func`` through the breaker."""
        self.before_call()
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            self.record_failure(error)
            raise
        self.record_success()
        return result

    async def acall(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``func`` through the breaker."""
        self.before_call()
        try:
            result = await func(*args, **kwargs)
        except Exception as error:
            self.record_failure(error)
            raise
        self.record_success()
        return result

    def _open_period_over(self) -> bool:
        return self._clock() - self._opened_at >= self.recovery_timeout

    def _open_error(self) -> CircuitOpenError:
        remaining = max(0.0, self.recovery_timeout - (self._clock() - self._opened_at))
        return CircuitOpenError(
            f"circuit breaker {self.name!r} is open; next probe in {remaining:.1f}s",
            retry_after=remaining,
        )

    def _set_state(self, new: CircuitState) -> tuple[CircuitState, CircuitState] | None:
        old = self._state
        if old is new:
            return None
        self._state = new
        return old, new

    def _notify(self, transition: tuple[CircuitState, CircuitState] | None) -> None:
        if transition is None:
            return
        old, new = transition
        logger.warning("circuit breaker %r changed from %s to %s", self.name, old.value, new.value)
        for listener in self._listeners:
            try:
                listener(self, old, new)
            except Exception:
                logger.exception("circuit breaker %r listener %r failed", self.name, listener)
