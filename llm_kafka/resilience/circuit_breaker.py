"""A circuit breaker with explicit states, generation-checked results and state listeners.

CLOSED lets calls through. It opens on ``failure_threshold`` consecutive failures, or when
at least ``minimum_calls`` calls ended in the last ``window_s`` seconds and the share that
failed reached ``failure_rate_threshold``. A provider-wide error (bad credentials, exhausted
quota, unknown model) opens it at once. OPEN fails calls with ``CircuitOpenError`` for
``recovery_timeout`` seconds. Then HALF_OPEN admits exactly one probe: success closes the
breaker, failure reopens it with a fresh timer. Every transition starts a new generation,
and a result from a call admitted in an earlier generation changes nothing, so a slow call
that started before the breaker opened cannot close or reopen it.
"""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from llm_kafka.errors import (
    CircuitOpenError,
    ContentFilterError,
    DeadlineExceededError,
    InvalidRequestError,
    LLMProviderError,
    OutputTruncatedError,
    RateLimitError,
    StructuredOutputError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

PROBE_POLL_SECONDS = 0.5
"""Seconds ``time_until_call`` returns while the half-open probe is in flight. The probe's end
time is unknown, so callers poll again after this long."""


class CircuitState(str, enum.Enum):
    """The breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


StateListener = Callable[["CircuitBreaker", CircuitState, CircuitState], None]
"""Called as ``listener(breaker, old_state, new_state)`` after each transition, outside the lock.

A listener runs on the thread whose call caused the transition and must return quickly.
"""

# Errors that tell nothing about the provider's health: the caller's request was at fault,
# the output was judged unusable, the message ran out of time, or the rate limiter handles it.
_NEUTRAL_ERRORS: tuple[type[BaseException], ...] = (
    InvalidRequestError,
    ContentFilterError,
    OutputTruncatedError,
    StructuredOutputError,
    DeadlineExceededError,
    RateLimitError,
    CircuitOpenError,
)


def counts_as_failure(error: BaseException) -> bool:
    """Return whether ``error`` counts against the provider's health.

    Provider-wide errors always count; errors that are the caller's fault (invalid request,
    context length), content filters, rejected output and rate limits do not.
    """
    if (
        isinstance(error, LLMProviderError)
        and error.provider_wide
        and not isinstance(error, (RateLimitError, CircuitOpenError))
    ):
        return True
    return not isinstance(error, _NEUTRAL_ERRORS)


@dataclass(frozen=True)
class Permit:
    """Admission of one call: pass it back to ``record_success`` or ``record_failure``."""

    generation: int
    probe: bool


class CircuitBreaker:
    """Stops calling a failing dependency until it has had time to recover.

    Thread-safe, for plain and async callers alike. ``clock`` returns monotonic seconds and
    exists for tests. Example::

        breaker = CircuitBreaker("search-api", failure_threshold=3, recovery_timeout=10)
        result = breaker.call(requests.get, url)  # or: await breaker.acall(fetch, url)
    """

    def __init__(
        self,
        name: str = "default",
        *,
        failure_threshold: int = 5,
        failure_rate_threshold: float = 0.5,
        minimum_calls: int = 10,
        window_s: float = 60.0,
        recovery_timeout: float = 30.0,
        is_failure: Callable[[BaseException], bool] = counts_as_failure,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"invalid failure_threshold {failure_threshold}: expected at least 1")
        if not 0.0 < failure_rate_threshold <= 1.0:
            raise ValueError(f"invalid failure_rate_threshold {failure_rate_threshold}: expected a share in (0, 1]")
        if minimum_calls < 1:
            raise ValueError(f"invalid minimum_calls {minimum_calls}: expected at least 1")
        if window_s <= 0:
            raise ValueError(f"invalid window_s {window_s}: expected seconds > 0")
        if recovery_timeout <= 0:
            raise ValueError(f"invalid recovery_timeout {recovery_timeout}: expected seconds > 0")
        self.name = name
        self.failure_threshold = failure_threshold
        self.failure_rate_threshold = failure_rate_threshold
        self.minimum_calls = minimum_calls
        self.window_s = window_s
        self.recovery_timeout = recovery_timeout
        self._is_failure = is_failure
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._consecutive_failures = 0
        self._outcomes: deque[tuple[float, bool]] = deque()
        self._failures_in_window = 0
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

    def time_until_call(self) -> float:
        """Return seconds until a call would be admitted, 0.0 if one would be now. Cheap."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return 0.0
            if self._state is CircuitState.OPEN:
                return max(0.0, self.recovery_timeout - (self._clock() - self._opened_at))
            return PROBE_POLL_SECONDS if self._probe_in_flight else 0.0

    def add_listener(self, listener: StateListener) -> None:
        """Register ``listener`` to be called after every state change."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        """Unregister ``listener``; does nothing if it is not registered."""
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def acquire(self) -> Permit:
        """Admit one call and return its permit; raise ``CircuitOpenError`` if none may start now."""
        transition = None
        with self._lock:
            if self._state is CircuitState.OPEN:
                if not self._open_period_over():
                    raise self._open_error()
                transition = self._set_state(CircuitState.HALF_OPEN)
            probe = self._state is CircuitState.HALF_OPEN
            if probe:
                if self._probe_in_flight:
                    raise self._open_error()
                self._probe_in_flight = True
            permit = Permit(self._generation, probe)
        self._notify(transition)
        return permit

    def record_success(self, permit: Permit) -> None:
        """Report that the call admitted with ``permit`` succeeded."""
        with self._lock:
            if permit.generation != self._generation:
                return
            transition = None
            if permit.probe:
                self._probe_in_flight = False
                self._reset_counts()
                transition = self._set_state(CircuitState.CLOSED)
            elif self._state is CircuitState.CLOSED:
                self._consecutive_failures = 0
                self._add_outcome(failed=False)
        self._notify(transition)

    def record_failure(self, permit: Permit, error: BaseException) -> None:
        """Report that the call admitted with ``permit`` failed with ``error``.

        Errors for which ``is_failure`` is false count as successes of the provider; a
        provider-wide error opens the breaker at once.
        """
        if not self._is_failure(error):
            self._record_neutral(permit)
            return
        with self._lock:
            if permit.generation != self._generation:
                return
            transition = None
            if permit.probe:
                self._probe_in_flight = False
                transition = self._open()
            elif self._state is CircuitState.CLOSED:
                self._consecutive_failures += 1
                self._add_outcome(failed=True)
                if (isinstance(error, LLMProviderError) and error.provider_wide) or self._should_open():
                    transition = self._open()
        self._notify(transition, error)

    def release(self, permit: Permit) -> None:
        """Give back a permit whose call ended without a result, such as a cancelled task.

        Nothing is counted; a released probe lets the next caller probe instead.
        """
        with self._lock:
            if permit.probe and permit.generation == self._generation:
                self._probe_in_flight = False

    def force_open(self, reason: str) -> None:
        """Open the breaker now, for example after an error that no retry can fix."""
        with self._lock:
            transition = self._open()
        if transition is not None:
            logger.warning("circuit breaker %r forced open: %s", self.name, reason)
        self._notify(transition)

    def call(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``func`` through the breaker."""
        permit = self.acquire()
        try:
            result = func(*args, **kwargs)
        except Exception as error:
            self.record_failure(permit, error)
            raise
        except BaseException:
            self.release(permit)
            raise
        self.record_success(permit)
        return result

    async def acall(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Await ``func`` through the breaker."""
        permit = self.acquire()
        try:
            result = await func(*args, **kwargs)
        except Exception as error:
            self.record_failure(permit, error)
            raise
        except BaseException:
            self.release(permit)
            raise
        self.record_success(permit)
        return result

    def protect(self, func: F) -> F:
        """Decorate a plain or ``async def`` function so every call goes through the breaker."""
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(func, *args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return self.call(func, *args, **kwargs)

        return cast(F, sync_wrapper)

    def _record_neutral(self, permit: Permit) -> None:
        # A probe that ended in a neutral error proves the provider responds, so it closes the
        # breaker, and other neutral results only end a run of consecutive failures.
        if permit.probe:
            self.record_success(permit)
            return
        with self._lock:
            if permit.generation == self._generation and self._state is CircuitState.CLOSED:
                self._consecutive_failures = 0

    def _add_outcome(self, *, failed: bool) -> None:
        now = self._clock()
        self._outcomes.append((now, failed))
        if failed:
            self._failures_in_window += 1
        cutoff = now - self.window_s
        while self._outcomes and self._outcomes[0][0] <= cutoff:
            _, old_failed = self._outcomes.popleft()
            if old_failed:
                self._failures_in_window -= 1

    def _should_open(self) -> bool:
        if self._consecutive_failures >= self.failure_threshold:
            return True
        calls = len(self._outcomes)
        return calls >= self.minimum_calls and self._failures_in_window / calls >= self.failure_rate_threshold

    def _open(self) -> tuple[CircuitState, CircuitState] | None:
        self._opened_at = self._clock()
        self._reset_counts()
        transition = self._set_state(CircuitState.OPEN)
        if transition is None:
            # Already open: a fresh timer, but no transition to report.
            self._generation += 1
        return transition

    def _reset_counts(self) -> None:
        self._consecutive_failures = 0
        self._outcomes.clear()
        self._failures_in_window = 0

    def _open_period_over(self) -> bool:
        return self._clock() - self._opened_at >= self.recovery_timeout

    def _open_error(self) -> CircuitOpenError:
        remaining = max(0.0, self.recovery_timeout - (self._clock() - self._opened_at))
        if self._state is CircuitState.HALF_OPEN:
            remaining = PROBE_POLL_SECONDS
        return CircuitOpenError(
            f"circuit breaker {self.name!r} is {self._state.value}; next call admitted in about {remaining:.1f}s",
            retry_after=remaining,
        )

    def _set_state(self, new: CircuitState) -> tuple[CircuitState, CircuitState] | None:
        old = self._state
        if old is new:
            return None
        self._state = new
        self._generation += 1
        return old, new

    def _notify(
        self,
        transition: tuple[CircuitState, CircuitState] | None,
        cause: BaseException | None = None,
    ) -> None:
        if transition is None:
            return
        old, new = transition
        because = f" after {type(cause).__name__}: {cause}" if cause is not None else ""
        logger.warning(
            "circuit breaker %r changed from %s to %s%s",
            self.name,
            old.value,
            new.value,
            because,
        )
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(self, old, new)
            except Exception:
                logger.exception("circuit breaker %r listener %r failed", self.name, listener)
