"""Sliding-window request and token limits for the local LLM server.

`SlidingWindowLimiter` admits or rejects one request at a time and reports the numbers that
the provider APIs return as rate-limit headers (limit, remaining, seconds until reset). It
holds no lock, so its owner must serialise calls.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimitState:
    """Outcome of one admission check, with the values for the rate-limit headers.

    A limit that is not configured has `None` as its limit and remaining count. Reset times are
    seconds from now until the oldest counted entry leaves the window, or 0 for an empty window.
    """

    allowed: bool
    request_limit: int | None
    requests_remaining: int | None
    requests_reset_seconds: float
    token_limit: int | None
    tokens_remaining: int | None
    tokens_reset_seconds: float
    retry_after_seconds: float

    @property
    def limited(self) -> bool:
        """Whether any limit is configured, so that rate-limit headers apply."""
        return self.request_limit is not None or self.token_limit is not None


class SlidingWindowLimiter:
    """Requests-per-window and tokens-per-window limits over a sliding window.

    A request is admitted when fewer than `request_limit` requests were admitted in the last
    `window_seconds`, and the tokens counted in that window plus the request's tokens stay within
    `token_limit`. A request whose tokens alone exceed `token_limit` is admitted when the window
    contains no tokens, so that it does not fail forever. Rejected requests are not counted.

        limiter = SlidingWindowLimiter(request_limit=2, token_limit=None, window_seconds=1.0)
        assert limiter.admit(tokens=10).allowed
    """

    def __init__(
        self,
        request_limit: int | None,
        token_limit: int | None,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.request_limit = request_limit
        self.token_limit = token_limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._request_times: deque[float] = deque()
        self._token_entries: deque[tuple[float, int]] = deque()

    def reset(self) -> None:
        """Forget every request and token counted so far."""
        self._request_times.clear()
        self._token_entries.clear()

    def admit(self, tokens: int) -> RateLimitState:
        """Count a request of `tokens` estimated tokens if both limits allow it."""
        now = self._clock()
        self._drop_expired(now)

        request_wait = self._request_wait(now)
        token_wait = self._token_wait(now, tokens)
        allowed = request_wait is None and token_wait is None
        if allowed:
            self._request_times.append(now)
            if tokens > 0:
                self._token_entries.append((now, tokens))

        retry_after = max(request_wait or 0.0, token_wait or 0.0)
        return self._state(now, allowed=allowed, retry_after=retry_after)

    def add_tokens(self, tokens: int) -> None:
        """Count tokens produced after admission, such as the output of an answer."""
        if tokens > 0:
            self._token_entries.append((self._clock(), tokens))

    def _drop_expired(self, now: float) -> None:
        cutoff = now - self.window_seconds
        while self._request_times and self._request_times[0] <= cutoff:
            self._request_times.popleft()
        while self._token_entries and self._token_entries[0][0] <= cutoff:
            self._token_entries.popleft()

    def _request_wait(self, now: float) -> float | None:
        """Return seconds until one more request fits, or None if it fits now."""
        if self.request_limit is None or len(self._request_times) < self.request_limit:
            return None
        # The request fits once enough of the oldest entries expire to leave
        # request_limit - 1 of them: entry number len - request_limit is the last to go.
        index = len(self._request_times) - self.request_limit
        return max(0.0, self._request_times[index] + self.window_seconds - now)

    def _token_wait(self, now: float, tokens: int) -> float | None:
        """Return seconds until `tokens` more tokens fit, or None if they fit now."""
        if self.token_limit is None:
            return None
        used = sum(count for _, count in self._token_entries)
        if used == 0 or used + tokens <= self.token_limit:
            return None
        for timestamp, count in self._token_entries:
            used -= count
            if used == 0 or used + tokens <= self.token_limit:
                return max(0.0, timestamp + self.window_seconds - now)
        return self.window_seconds

    def _state(
        self, now: float, *, allowed: bool, retry_after: float
    ) -> RateLimitState:
        requests_remaining = None
        if self.request_limit is not None:
            requests_remaining = max(0, self.request_limit - len(self._request_times))
        tokens_remaining = None
        if self.token_limit is not None:
            used = sum(count for _, count in self._token_entries)
            tokens_remaining = max(0, self.token_limit - used)

        requests_reset = 0.0
        if self._request_times:
            requests_reset = max(
                0.0, self._request_times[0] + self.window_seconds - now
            )
        tokens_reset = 0.0
        if self._token_entries:
            tokens_reset = max(
                0.0, self._token_entries[0][0] + self.window_seconds - now
            )

        return RateLimitState(
            allowed=allowed,
            request_limit=self.request_limit,
            requests_remaining=requests_remaining,
            requests_reset_seconds=requests_reset,
            token_limit=self.token_limit,
            tokens_remaining=tokens_remaining,
            tokens_reset_seconds=tokens_reset,
            retry_after_seconds=retry_after,
        )


def retry_after_headers(seconds: float) -> dict[str, str]:
    """Return `retry-after` (whole seconds, rounded up, at least 1) and `retry-after-ms`.

    Both SDKs read `retry-after-ms` first, so it carries the precise wait.
    """
    milliseconds = max(1, round(seconds * 1000))
    return {
        "retry-after": str(max(1, -int(-seconds // 1))),
        "retry-after-ms": str(milliseconds),
    }
