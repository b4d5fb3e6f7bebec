"""Counters of what the local LLM server received and returned.

`StatsRecorder` is the thread-safe store that request handlers update, and `ServerStats` is
the immutable snapshot that `LocalLLMServer.stats()` and `GET /_admin/stats` return.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

DEFAULT_RECENT_PROMPTS = 50


@dataclass(frozen=True)
class ServerStats:
    """Snapshot of the server's counters since start or the last reset."""

    requests_total: int = 0
    requests_by_endpoint: dict[str, int] = field(default_factory=dict)
    """Count per "METHOD /path", for example "POST /v1/chat/completions"."""
    responses_by_status: dict[int, int] = field(default_factory=dict)
    """Count per HTTP status sent; hung requests send none and are not counted here."""
    rate_limited: int = 0
    """429 responses, whether from a rate limit or an injected failure."""
    errors_injected: int = 0
    """Error responses from fault settings (rate limits included), not from invalid requests."""
    hangs: int = 0
    malformed: int = 0
    input_tokens: int = 0
    """Estimated input tokens of model requests that got an answer (not an error or hang)."""
    output_tokens: int = 0
    recent_prompts: list[str] = field(default_factory=list)
    """Prompts of the latest model requests, oldest first, bounded by `recent_prompts_limit`."""

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-compatible values (status codes become string keys)."""
        return {
            "requests_total": self.requests_total,
            "requests_by_endpoint": dict(self.requests_by_endpoint),
            "responses_by_status": {str(status): count for status, count in self.responses_by_status.items()},
            "rate_limited": self.rate_limited,
            "errors_injected": self.errors_injected,
            "hangs": self.hangs,
            "malformed": self.malformed,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "recent_prompts": list(self.recent_prompts),
        }


class StatsRecorder:
    """Thread-safe counters behind `ServerStats`."""

    def __init__(self, recent_prompts_limit: int = DEFAULT_RECENT_PROMPTS) -> None:
        if recent_prompts_limit < 0:
            raise ValueError(f"invalid recent_prompts_limit {recent_prompts_limit}: expected an integer >= 0")
        self._lock = threading.Lock()
        self._recent_prompts_limit = recent_prompts_limit
        self._reset_locked()

    def reset(self) -> None:
        """Set every counter to zero and forget the recent prompts."""
        with self._lock:
            self._reset_locked()

    def _reset_locked(self) -> None:
        self._requests_by_endpoint: Counter[str] = Counter()
        self._responses_by_status: Counter[int] = Counter()
        self._events: Counter[str] = Counter()
        self._recent_prompts: deque[str] = deque(maxlen=self._recent_prompts_limit)

    def record_request(self, endpoint: str) -> None:
        with self._lock:
            self._requests_by_endpoint[endpoint] += 1

    def record_response(self, status: int) -> None:
        with self._lock:
            self._responses_by_status[status] += 1
            if status == 429:
                self._events["rate_limited"] += 1

    def record_prompt(self, prompt: str) -> None:
        with self._lock:
            self._recent_prompts.append(prompt)

    def record_event(self, name: str, count: int = 1) -> None:
        """Add `count` to one of "errors_injected", "hangs", "malformed", "input_tokens",
        "output_tokens"."""
        with self._lock:
            self._events[name] += count

    def snapshot(self) -> ServerStats:
        with self._lock:
            return ServerStats(
                requests_total=sum(self._requests_by_endpoint.values()),
                requests_by_endpoint=dict(self._requests_by_endpoint),
                responses_by_status=dict(self._responses_by_status),
                rate_limited=self._events["rate_limited"],
                errors_injected=self._events["errors_injected"],
                hangs=self._events["hangs"],
                malformed=self._events["malformed"],
                input_tokens=self._events["input_tokens"],
                output_tokens=self._events["output_tokens"],
                recent_prompts=list(self._recent_prompts),
            )
