"""Client-side request and token limits per provider and model, shared by every caller.

``RateLimiter`` keeps a sliding window of the requests started in the last ``window_s``
seconds, each with its input and output tokens. A call reserves its estimate (prompt
estimate plus ``max_tokens``) before it starts and settles with the actual usage after, so
a budget is never overspent by calls in flight. Three things can make a call wait: the
window's budgets, the budget the provider's rate-limit headers report, and the gate that a
429 closes for every caller of the same provider and model until the server's reset.
"""

from __future__ import annotations

import email.utils
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from llm_kafka.errors import DeadlineExceededError, RateLimitError
from llm_kafka.llm.types import Usage
from llm_kafka.resilience.clock import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)

DEFAULT_GATE_SECONDS = 1.0
"""Gate period after a 429 that carries no ``retry-after``: long enough to stop a burst of
retries from every worker, short enough to cost little when the limit has already cleared."""

CLOCK_MARGIN_SECONDS = 0.05
"""Seconds added to the window before an entry expires here. The server stamps a request when
it arrives, slightly after this client stamps it, so without the margin a request sent the
instant a slot frees here can reach the server a moment before its slot frees there (429)."""


@dataclass(frozen=True)
class RateLimits:
    """Budgets per ``window_s`` seconds (60 s by default, so "per minute"); None means no limit.

    ``tokens_per_minute`` counts input plus output tokens; the input and output budgets apply
    where the provider limits them separately (Anthropic does).
    """

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    window_s: float = 60.0

    def __post_init__(self) -> None:
        for name in (
            "requests_per_minute",
            "tokens_per_minute",
            "input_tokens_per_minute",
            "output_tokens_per_minute",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"invalid {name} {value}: expected an integer >= 1, or None for no limit")
        if self.window_s <= 0:
            raise ValueError(f"invalid window_s {self.window_s}: expected seconds > 0")


@dataclass
class _Entry:
    started_at: float
    input_tokens: int
    output_tokens: int
    expired: bool = False


@dataclass
class Reservation:
    """A started request's place in the window; settle it once the call ends."""

    entry: _Entry
    settled: bool = False


@dataclass
class _ServerBudget:
    """Budget of one dimension from the provider's last headers, minus reservations made since."""

    remaining: int
    reset_at: float


_DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")


@dataclass
class _Window:
    entries: deque[_Entry] = field(default_factory=deque)
    input_tokens: int = 0
    output_tokens: int = 0


class RateLimiter:
    """Requests, tokens, input tokens and output tokens per window for one provider and model.

    Thread-safe. ``wait_time`` is cheap (a lock and arithmetic over running totals) so a poll
    loop may call it every turn. A request whose estimate alone exceeds a token budget is let
    through when the window contains no tokens, so it fails at the provider instead of waiting
    forever. Example::

        limiter = RateLimiter("openai:gpt-4o-mini", RateLimits(requests_per_minute=600))
        reservation = limiter.acquire(input_tokens=200, output_tokens=512)
        ...  # call the provider
        limiter.settle(reservation, usage)
    """

    def __init__(
        self,
        name: str,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        waits: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.name = name
        self._limits = limits or RateLimits()
        self._clock = clock
        self._waits = waits
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._window = _Window()
        self._in_flight = 0
        self._gate_until = 0.0
        self._server_budgets: dict[str, _ServerBudget] = {}

    @property
    def limits(self) -> RateLimits:
        """The configured budgets."""
        return self._limits

    def set_limits(self, limits: RateLimits) -> None:
        """Replace the budgets; requests already in the window keep counting."""
        with self._lock:
            self._limits = limits

    def wait_time(self, input_tokens: int = 0, output_tokens: int = 0) -> float:
        """Return seconds until a request of this estimate could start, 0.0 if it could now."""
        with self._lock:
            return self._wait_locked(self._clock(), input_tokens, output_tokens)

    def gate_remaining(self) -> float:
        """Return seconds until the gate that a 429 closed opens again, 0.0 when it is open."""
        with self._lock:
            return max(0.0, self._gate_until - self._clock())

    def try_acquire(self, input_tokens: int, output_tokens: int) -> Reservation | float:
        """Reserve a place now and return it, or return the seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            wait = self._wait_locked(now, input_tokens, output_tokens)
            if wait > 0:
                return wait
            entry = _Entry(now, input_tokens, output_tokens)
            self._window.entries.append(entry)
            self._window.input_tokens += input_tokens
            self._window.output_tokens += output_tokens
            self._in_flight += 1
            self._spend_server_budgets(input_tokens, output_tokens)
            return Reservation(entry)

    def acquire(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        deadline: float | None = None,
        max_wait: float | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> Reservation:
        """Reserve a place, sleeping the calling thread until one is free.

        ``deadline`` is a ``time.monotonic()`` value; raises ``DeadlineExceededError`` when
        the wait would pass it. A wait longer than ``max_wait`` seconds raises a provider-wide
        ``RateLimitError`` at once, so a long pause does not block a worker.
        """
        while True:
            result = self.try_acquire(input_tokens, output_tokens)
            if isinstance(result, Reservation):
                return result
            (sleep or self._waits.sleep)(self._bounded_wait(result, deadline, max_wait))

    async def aacquire(
        self,
        input_tokens: int,
        output_tokens: int,
        *,
        deadline: float | None = None,
        max_wait: float | None = None,
    ) -> Reservation:
        """Reserve a place, waiting with ``asyncio.sleep`` so the event loop keeps running."""
        while True:
            result = self.try_acquire(input_tokens, output_tokens)
            if isinstance(result, Reservation):
                return result
            await self._waits.asleep(self._bounded_wait(result, deadline, max_wait))

    def settle(
        self,
        reservation: Reservation,
        usage: Usage | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Replace the reservation's estimate with ``usage`` and learn from ``headers``.

        ``usage`` None means the provider used no tokens (the call failed before a response);
        the request itself still counts against the request budget.
        """
        with self._lock:
            if headers:
                self._observe_headers_locked(headers)
            if reservation.settled:
                return
            reservation.settled = True
            self._in_flight -= 1
            entry = reservation.entry
            actual_input = usage.input_tokens if usage is not None else 0
            actual_output = usage.output_tokens if usage is not None else 0
            if not entry.expired:
                self._window.input_tokens += actual_input - entry.input_tokens
                self._window.output_tokens += actual_output - entry.output_tokens
            entry.input_tokens = actual_input
            entry.output_tokens = actual_output

    def close_gate(self, seconds: float | None, reason: str) -> None:
        """Stop every caller from starting a request for ``seconds`` (a 429's ``retry-after``).

        The clock margin is added, because servers round ``retry-after`` and stamp requests
        on arrival; a retry sent exactly on time could still meet the 429.
        """
        wait = DEFAULT_GATE_SECONDS if seconds is None else max(0.0, seconds) + CLOCK_MARGIN_SECONDS
        with self._lock:
            until = self._clock() + wait
            if until <= self._gate_until:
                return
            self._gate_until = until
        logger.info(
            "rate-limit gate of %s closed for %.2fs because of %s",
            self.name,
            wait,
            reason,
        )

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Learn the remaining budgets and their reset times from rate-limit response headers."""
        with self._lock:
            self._observe_headers_locked(headers)

    def _bounded_wait(self, wait: float, deadline: float | None, max_wait: float | None) -> float:
        if max_wait is not None and wait > max_wait:
            error = RateLimitError(
                f"rate limit of {self.name} needs a wait of {wait:.1f}s, longer than the "
                f"{max_wait:.1f}s a call may wait; calls resume once LLMClient.wait_time() is 0",
                retry_after=wait,
            )
            error.provider_wide = True
            raise error
        if deadline is None:
            return wait
        left = deadline - self._clock()
        if left <= 0 or wait > left:
            raise DeadlineExceededError(
                f"rate limit of {self.name} needs a wait of {wait:.2f}s, "
                f"longer than the {max(left, 0.0):.2f}s left before the deadline"
            )
        return wait

    def _expire_locked(self, now: float) -> None:
        window = self._window
        cutoff = now - self._limits.window_s - CLOCK_MARGIN_SECONDS
        while window.entries and window.entries[0].started_at <= cutoff:
            entry = window.entries.popleft()
            entry.expired = True
            window.input_tokens -= entry.input_tokens
            window.output_tokens -= entry.output_tokens

    def _wait_locked(self, now: float, input_tokens: int, output_tokens: int) -> float:
        self._expire_locked(now)
        limits = self._limits
        waits = [self._gate_until - now]

        entries = self._window.entries
        if limits.requests_per_minute is not None and len(entries) >= limits.requests_per_minute:
            # The request fits once all but requests_per_minute - 1 entries have expired.
            index = len(entries) - limits.requests_per_minute
            waits.append(self._expiry(entries[index]) - now)
        for limit, need, used, tokens_of in (
            (
                limits.tokens_per_minute,
                input_tokens + output_tokens,
                self._window.input_tokens + self._window.output_tokens,
                _total,
            ),
            (
                limits.input_tokens_per_minute,
                input_tokens,
                self._window.input_tokens,
                _input,
            ),
            (
                limits.output_tokens_per_minute,
                output_tokens,
                self._window.output_tokens,
                _output,
            ),
        ):
            if limit is not None:
                waits.append(self._token_wait(now, limit, need, used, tokens_of))

        for dimension, need in (
            ("requests", 1),
            ("tokens", input_tokens + output_tokens),
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
        ):
            budget = self._server_budgets.get(dimension)
            if budget is None or budget.reset_at <= now:
                continue
            # The server's budget is spent: wait for its reset, even if our own window has room.
            if need > 0 and budget.remaining <= 0:
                waits.append(budget.reset_at - now)
        return max(0.0, *waits)

    def _token_wait(
        self,
        now: float,
        limit: int,
        need: int,
        used: int,
        tokens_of: Callable[[_Entry], int],
    ) -> float:
        if used == 0 or used + need <= limit:
            return 0.0
        for entry in self._window.entries:
            used -= tokens_of(entry)
            if used == 0 or used + need <= limit:
                return self._expiry(entry) - now
        return 0.0

    def _expiry(self, entry: _Entry) -> float:
        return entry.started_at + self._limits.window_s + CLOCK_MARGIN_SECONDS

    def _spend_server_budgets(self, input_tokens: int, output_tokens: int) -> None:
        spent = {
            "requests": 1,
            "tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
        for dimension, budget in self._server_budgets.items():
            budget.remaining -= spent[dimension]

    def _observe_headers_locked(self, headers: Mapping[str, str]) -> None:
        now = self._clock()
        lowered = {name.lower(): value for name, value in headers.items()}
        for dimension in _DIMENSIONS:
            reported = _read_budget(lowered, dimension, self._wall_clock())
            if reported is None:
                continue
            remaining, reset_seconds = reported
            # The report predates the other requests still in flight, which the server will
            # also count: subtract them so the budget errs on the safe side.
            others_in_flight = max(0, self._in_flight - 1)
            if dimension != "requests":
                others_in_flight = 0
            self._server_budgets[dimension] = _ServerBudget(
                remaining=remaining - others_in_flight,
                reset_at=now + reset_seconds + CLOCK_MARGIN_SECONDS,
            )


def _total(entry: _Entry) -> int:
    return entry.input_tokens + entry.output_tokens


def _input(entry: _Entry) -> int:
    return entry.input_tokens


def _output(entry: _Entry) -> int:
    return entry.output_tokens


_OPENAI_NAMES = {"requests": "requests", "tokens": "tokens"}
_ANTHROPIC_NAMES = {
    "requests": "requests",
    "tokens": "tokens",
    "input_tokens": "input-tokens",
    "output_tokens": "output-tokens",
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _read_budget(headers: Mapping[str, str], dimension: str, wall_now: float) -> tuple[int, float] | None:
    """Return (remaining, seconds until reset) for ``dimension`` from OpenAI or Anthropic headers."""
    openai_name = _OPENAI_NAMES.get(dimension)
    if openai_name is not None:
        remaining = headers.get(f"x-ratelimit-remaining-{openai_name}")
        reset = headers.get(f"x-ratelimit-reset-{openai_name}")
        if remaining is not None and reset is not None:
            parsed = _parse_int(remaining), parse_duration(reset)
            if parsed[0] is not None and parsed[1] is not None:
                return parsed[0], parsed[1]

    anthropic_name = _ANTHROPIC_NAMES[dimension]
    remaining = headers.get(f"anthropic-ratelimit-{anthropic_name}-remaining")
    reset = headers.get(f"anthropic-ratelimit-{anthropic_name}-reset")
    if remaining is None or reset is None:
        return None
    count = _parse_int(remaining)
    reset_at = _parse_timestamp(reset)
    if count is None or reset_at is None:
        return None
    return count, max(0.0, reset_at - wall_now)


def parse_duration(text: str) -> float | None:
    """Parse an OpenAI reset duration such as ``"250ms"``, ``"1.5s"`` or ``"6m0s"`` into seconds."""
    text = text.strip()
    position = 0
    seconds = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        seconds += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        return None
    return seconds


def _parse_int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def _parse_timestamp(text: str) -> float | None:
    """Parse an RFC 3339 time (Anthropic's reset headers) or an HTTP date into epoch seconds."""
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return None


class RateLimiterRegistry:
    """One ``RateLimiter`` per provider, endpoint and model, so every client shares its limits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limiters: dict[str, RateLimiter] = {}

    def get(self, key: str, limits: RateLimits | None = None) -> RateLimiter:
        """Return the limiter of ``key``, creating it; ``limits``, when given, replace its budgets."""
        with self._lock:
            limiter = self._limiters.get(key)
            if limiter is None:
                limiter = RateLimiter(key, limits)
                self._limiters[key] = limiter
            elif limits is not None and limits != limiter.limits:
                logger.info(
                    "rate limits of %s changed from %s to %s",
                    key,
                    limiter.limits,
                    limits,
                )
                limiter.set_limits(limits)
            return limiter


_default_registry = RateLimiterRegistry()


def default_rate_limiters() -> RateLimiterRegistry:
    """Return the process-wide registry that ``LLMClient`` uses unless given another."""
    return _default_registry
