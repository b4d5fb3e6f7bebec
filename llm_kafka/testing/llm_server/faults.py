"""Fault and limit settings of the local LLM server, and the per-request fault decision.

`FaultSettings` is the validated set of knobs (latency, rate limits, injected errors, hangs,
malformed answers). `FaultInjector` applies them to each request in a fixed order with a seeded
random generator, so a given seed and request sequence always produce the same faults.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from llm_kafka.testing.llm_server.rate_limit import RateLimitState, SlidingWindowLimiter

ApiFlavor = Literal["openai", "anthropic"]

OVERLOADED_STATUS = 529
"""Status that Anthropic uses for "overloaded"; the OpenAI SDK treats it as a generic 5xx."""

RATE_LIMIT_STATUS = 429
MARKER_RETRY_AFTER_SECONDS = 1.0
"""`retry-after` sent with a 429 that a fail marker or `fail_first_n` forced, not a real limit."""


@dataclass(frozen=True)
class FaultSettings:
    """Faults and limits that the local LLM server applies to model requests.

    Model requests are the POST routes (chat completions, embeddings, messages). Admin routes
    and `GET /v1/models` are never faulted. Markers match against the request's prompt, which is
    the text of the last user message (all inputs joined by newlines for embeddings).
    """

    latency: float | tuple[float, float] = 0.0
    """Delay before each answer in seconds, or a (min, max) pair drawn uniformly per request."""
    seed: int = 0
    """Seed of the random generator behind latency ranges and the `*_rate` probabilities."""

    requests_per_minute: int | None = None
    """Requests admitted per window (default window 60 s); None means no limit."""
    tokens_per_minute: int | None = None
    """Estimated input plus output tokens admitted per window; None means no limit."""
    window_seconds: float = 60.0
    """Length of the sliding rate-limit window in seconds; tests shorten it to run fast."""

    error_rate: float = 0.0
    """Probability in [0, 1] that a request fails with a status drawn from `error_statuses`."""
    error_statuses: tuple[int, ...] = (500, 503)
    """Statuses that `error_rate` draws from; add 529 to get it on the OpenAI route too."""
    overloaded_rate: float = 0.0
    """Probability in [0, 1] that an Anthropic request fails with 529 overloaded_error."""
    fail_marker: dict[str, int] = field(default_factory=dict)
    """Prompt substring to HTTP status, for example {"LLMFAIL500": 500}; first match wins."""
    fail_first_n: int = 0
    """Number of model requests after start, `configure` or reset that fail with
    `fail_first_status`."""
    fail_first_status: int = 500
    """Status returned to the first `fail_first_n` model requests."""

    hang_rate: float = 0.0
    """Probability in [0, 1] that a request gets no response and is closed after `hang_seconds`."""
    hang_marker: str | None = None
    """Prompt substring that makes the server hang on the request."""
    hang_seconds: float = 30.0
    """How long a hung request is held before the connection closes; stop() ends it early."""

    malformed_rate: float = 0.0
    """Probability in [0, 1] of truncated JSON or prose instead of the requested format."""
    malformed_marker: str | None = None
    """Prompt substring that makes the answer malformed."""

    refusal_marker: str | None = None
    """Prompt substring that makes the model refuse: OpenAI sends `message.refusal`, Anthropic
    `stop_reason: "refusal"`."""
    context_window: int | None = None
    """Tokens of the model's context window; a request whose input estimate plus `max_tokens`
    exceeds it gets the provider's 400 context-length error. None means no limit."""
    quota_exhausted: bool = False
    """Whether every model request fails as if the account ran out of credit (OpenAI 429
    `insufficient_quota`, Anthropic 400 "credit balance is too low")."""
    stream_overloaded_marker: str | None = None
    """Prompt substring that makes a streamed Anthropic answer end with an `overloaded_error`
    event inside the 200 response, as Anthropic does when it overloads mid-stream."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fail_marker", dict(self.fail_marker))
        object.__setattr__(self, "error_statuses", tuple(self.error_statuses))
        if isinstance(self.latency, (list, tuple)):
            object.__setattr__(self, "latency", (float(self.latency[0]), float(self.latency[1])))
        _validate(self)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> FaultSettings:
        """Build settings from a JSON-style mapping, with defaults for missing names."""
        return cls().replace(**values)

    def replace(self, **changes: Any) -> FaultSettings:
        """Return a copy with `changes` applied; raise ValueError for an unknown name."""
        names = {item.name for item in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}: valid names are {sorted(names)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-compatible values."""
        values = dataclasses.asdict(self)
        values["error_statuses"] = list(self.error_statuses)
        if isinstance(self.latency, tuple):
            values["latency"] = list(self.latency)
        return values


def _validate(settings: FaultSettings) -> None:
    latency = settings.latency
    if isinstance(latency, tuple):
        if len(latency) != 2 or not 0 <= latency[0] <= latency[1]:
            raise ValueError(f"invalid latency {list(latency)}: expected [min, max] with 0 <= min <= max")
    elif latency < 0:
        raise ValueError(f"invalid latency {latency}: expected seconds >= 0")

    for name in ("error_rate", "overloaded_rate", "hang_rate", "malformed_rate"):
        value = getattr(settings, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"invalid {name} {value}: expected a probability in [0, 1]")

    for name in ("requests_per_minute", "tokens_per_minute"):
        limit = getattr(settings, name)
        if limit is not None and limit < 1:
            raise ValueError(f"invalid {name} {limit}: expected an integer >= 1, or None for no limit")
    if settings.window_seconds <= 0:
        raise ValueError(f"invalid window_seconds {settings.window_seconds}: expected seconds > 0")
    if settings.hang_seconds < 0:
        raise ValueError(f"invalid hang_seconds {settings.hang_seconds}: expected seconds >= 0")
    if settings.context_window is not None and settings.context_window < 1:
        raise ValueError(f"invalid context_window {settings.context_window}: expected an integer >= 1, or None")
    if settings.fail_first_n < 0:
        raise ValueError(f"invalid fail_first_n {settings.fail_first_n}: expected an integer >= 0")

    statuses = [*settings.error_statuses, settings.fail_first_status]
    statuses += list(settings.fail_marker.values())
    for status in statuses:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"invalid error status {status!r}: expected an HTTP status in 400-599")
    if settings.error_rate > 0 and not settings.error_statuses:
        raise ValueError("error_rate is set but error_statuses is empty: list at least one status")
    markers = [*settings.fail_marker, settings.hang_marker, settings.malformed_marker]
    markers += [settings.refusal_marker, settings.stream_overloaded_marker]
    for marker in markers:
        if marker == "":
            raise ValueError("invalid marker '': an empty marker would match every prompt")


@dataclass(frozen=True)
class FaultDecision:
    """Action for one model request: a latency plus an error status, hang or malformed answer."""

    latency_seconds: float
    status: int | None = None
    """Error status to return instead of an answer, or None to answer."""
    reason: str = ""
    """Human-readable cause of the error, sent as the error message."""
    retry_after_seconds: float | None = None
    hang: bool = False
    malformed: bool = False
    rate_limit: RateLimitState | None = None


class FaultInjector:
    """Thread-safe fault decisions for model requests, in a fixed order.

    Each request draws its latency and five random numbers. The count never varies, so a seed
    gives the same sequence whatever is enabled. Then the first rule that applies wins, in this
    order: rate limit (429), `fail_first_n`, `fail_marker`, `hang_marker` or `hang_rate`,
    `overloaded_rate` (Anthropic only), `error_rate`. When none applies, `malformed_marker` or
    `malformed_rate` may still make the answer malformed.
    """

    def __init__(self, settings: FaultSettings) -> None:
        self._lock = threading.Lock()
        self._settings = settings
        self._random = random.Random(settings.seed)
        self._failed_first = 0
        self._limiter = _build_limiter(settings)

    @property
    def settings(self) -> FaultSettings:
        """Current settings."""
        with self._lock:
            return self._settings

    def configure(self, settings: FaultSettings) -> None:
        """Replace the settings and restart the rate-limit window, fail-first count and seed."""
        with self._lock:
            self._settings = settings
            self._random = random.Random(settings.seed)
            self._failed_first = 0
            self._limiter = _build_limiter(settings)

    def reset(self) -> None:
        """Restart the rate-limit window, the fail-first count and the random sequence."""
        self.configure(self.settings)

    def record_output_tokens(self, tokens: int) -> None:
        """Count answer tokens against the tokens-per-minute limit."""
        with self._lock:
            self._limiter.add_tokens(tokens)

    def decide(self, prompt: str, input_tokens: int, flavor: ApiFlavor) -> FaultDecision:
        """Decide latency and faults for one model request with the given prompt."""
        with self._lock:
            settings = self._settings
            latency = self._draw_latency(settings)
            hang_roll, overloaded_roll, error_roll, malformed_roll, status_roll = (
                self._random.random() for _ in range(5)
            )
            rate_limit = self._limiter.admit(input_tokens)
            if not rate_limit.allowed:
                return FaultDecision(
                    latency_seconds=latency,
                    status=RATE_LIMIT_STATUS,
                    reason=_rate_limit_reason(rate_limit),
                    retry_after_seconds=rate_limit.retry_after_seconds,
                    rate_limit=rate_limit,
                )
            fail_first = self._failed_first < settings.fail_first_n
            if fail_first:
                self._failed_first += 1

        def error(status: int, reason: str) -> FaultDecision:
            retry_after = MARKER_RETRY_AFTER_SECONDS if status == RATE_LIMIT_STATUS else None
            return FaultDecision(
                latency_seconds=latency,
                status=status,
                reason=reason,
                retry_after_seconds=retry_after,
                rate_limit=rate_limit,
            )

        if fail_first:
            return error(settings.fail_first_status, "injected failure: fail_first_n is set")
        for marker, status in settings.fail_marker.items():
            if marker in prompt:
                return error(status, f"injected failure: prompt contains marker {marker!r}")
        if (settings.hang_marker is not None and settings.hang_marker in prompt) or (hang_roll < settings.hang_rate):
            return FaultDecision(latency_seconds=latency, hang=True, rate_limit=rate_limit)
        if flavor == "anthropic" and overloaded_roll < settings.overloaded_rate:
            return error(OVERLOADED_STATUS, "injected failure: overloaded_rate")
        if error_roll < settings.error_rate:
            statuses = settings.error_statuses
            status = statuses[int(status_roll * len(statuses))]
            return error(status, "injected failure: error_rate")

        malformed = (
            settings.malformed_marker is not None and settings.malformed_marker in prompt
        ) or malformed_roll < settings.malformed_rate
        return FaultDecision(latency_seconds=latency, malformed=malformed, rate_limit=rate_limit)

    def _draw_latency(self, settings: FaultSettings) -> float:
        if isinstance(settings.latency, tuple):
            low, high = settings.latency
            return self._random.uniform(low, high)
        return settings.latency


def _build_limiter(settings: FaultSettings) -> SlidingWindowLimiter:
    return SlidingWindowLimiter(
        request_limit=settings.requests_per_minute,
        token_limit=settings.tokens_per_minute,
        window_seconds=settings.window_seconds,
    )


def _rate_limit_reason(state: RateLimitState) -> str:
    if state.request_limit is not None and state.requests_remaining == 0:
        return (
            f"Rate limit reached: {state.request_limit} requests per window. "
            f"Retry after {state.retry_after_seconds:.3f} s"
        )
    return f"Rate limit reached: {state.token_limit} tokens per window; retry after {state.retry_after_seconds:.3f} s"
