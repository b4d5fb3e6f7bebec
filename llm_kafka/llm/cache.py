"""An optional response cache, so a message redelivered after a rebalance does not pay twice.

Off by default: ``LLMClient(cache=InMemoryResponseCache())`` turns it on. Keys are a SHA-256
of the provider, model and the whole request, so any change to the prompt, schema or
settings misses. Any object with ``get`` and ``set`` (the ``ResponseCache`` protocol) can
replace the in-memory cache, for example one backed by Redis.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Protocol

from llm_kafka.llm.types import EmbeddingRequest, LLMRequest


class ResponseCache(Protocol):
    """Storage of responses by key. Both methods must be thread-safe and must not block long."""

    def get(self, key: str) -> Any | None:
        """Return the value stored under ``key``, or None when it is absent or expired."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key``."""
        ...


def cache_key(provider: str, request: LLMRequest | EmbeddingRequest) -> str:
    """Return the cache key of ``request`` sent to ``provider``; the timeout is not part of it."""
    fields = asdict(request)
    fields.pop("timeout", None)
    payload = json.dumps(
        {"provider": provider, "kind": type(request).__name__, **fields},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class InMemoryResponseCache:
    """A least-recently-used cache in process memory with a size and an age limit.

    ``max_entries`` bounds memory (the least recently used entry goes first); ``max_age_s``
    bounds staleness in seconds (None keeps entries until evicted). ``clock`` exists for tests.
    """

    def __init__(
        self,
        max_entries: int = 1024,
        max_age_s: float | None = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"invalid max_entries {max_entries}: expected at least 1")
        if max_age_s is not None and max_age_s <= 0:
            raise ValueError(f"invalid max_age_s {max_age_s}: expected seconds > 0 or None")
        self.max_entries = max_entries
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, value = entry
            if self.max_age_s is not None and self._clock() - stored_at > self.max_age_s:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._entries.clear()
