"""``MetricsCollector``: counters and timers that also record through OpenTelemetry.

Values are kept in process for ``snapshot()`` (the demo's summary and tests read them) and
sent to the OpenTelemetry metrics API, so any configured exporter receives them. Without
an OpenTelemetry SDK the API is a no-op and only the in-process values remain.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as otel_metrics

Attributes = Mapping[str, str | int | float | bool]


@dataclass
class TimerStats:
    """Count and total of the durations recorded under one name, in seconds."""

    count: int = 0
    total: float = 0.0
    max: float = 0.0

    @property
    def mean(self) -> float:
        """Mean duration in seconds, 0 when nothing was recorded."""
        return self.total / self.count if self.count else 0.0


@dataclass
class MetricsSnapshot:
    """A copy of the collector's values at one moment."""

    counters: dict[str, float] = field(default_factory=dict)
    timers: dict[str, TimerStats] = field(default_factory=dict)

    def counter(self, name: str) -> float:
        """Return the total of counter ``name`` over all attributes, 0 if never incremented."""
        return self.counters.get(name, 0.0)


class MetricsCollector:
    """Counters and named timers, thread-safe.

    ``start_timer(name)`` and ``stop_timer(name)`` measure one span of work per name and
    thread; ``stop_timer`` returns the seconds elapsed. For overlapping work, use
    ``record_duration`` with your own measurement. ``meter`` defaults to the global
    OpenTelemetry meter provider's ``llm_kafka`` meter.
    """

    def __init__(self, meter: otel_metrics.Meter | None = None) -> None:
        self._meter = meter or otel_metrics.get_meter("llm_kafka")
        self._lock = threading.Lock()
        self._counters: dict[str, float] = defaultdict(float)
        self._timers: dict[str, TimerStats] = defaultdict(TimerStats)
        self._started = threading.local()
        self._otel_counters: dict[str, Any] = {}
        self._otel_histograms: dict[str, Any] = {}

    def increment(
        self, name: str, value: float = 1, attributes: Attributes | None = None
    ) -> None:
        """Add ``value`` to counter ``name``."""
        with self._lock:
            self._counters[name] += value
            instrument = self._otel_counters.get(name)
            if instrument is None:
                instrument = self._meter.create_counter(f"llm_kafka.{name}")
                self._otel_counters[name] = instrument
        instrument.add(value, attributes=dict(attributes or {}))

    def start_timer(self, name: str) -> None:
        """Start timer ``name`` for the calling thread."""
        starts: dict[str, float] = self._started.__dict__.setdefault("starts", {})
        starts[name] = time.perf_counter()

    def stop_timer(self, name: str, attributes: Attributes | None = None) -> float:
        """Stop timer ``name`` for the calling thread, record it, and return the seconds elapsed.

        Raises ``KeyError`` if the timer was not started on this thread.
        """
        starts: dict[str, float] = self._started.__dict__.setdefault("starts", {})
        try:
            started = starts.pop(name)
        except KeyError:
            raise KeyError(f"timer {name!r} was not started on this thread") from None
        elapsed = time.perf_counter() - started
        self.record_duration(name, elapsed, attributes)
        return elapsed

    def record_duration(
        self, name: str, seconds: float, attributes: Attributes | None = None
    ) -> None:
        """Record one duration of ``seconds`` under timer ``name``."""
        with self._lock:
            stats = self._timers[name]
            stats.count += 1
            stats.total += seconds
            stats.max = max(stats.max, seconds)
            instrument = self._otel_histograms.get(name)
            if instrument is None:
                instrument = self._meter.create_histogram(f"llm_kafka.{name}", unit="s")
                self._otel_histograms[name] = instrument
        instrument.record(seconds, attributes=dict(attributes or {}))

    def snapshot(self) -> MetricsSnapshot:
        """Return a copy of all values."""
        with self._lock:
            return MetricsSnapshot(
                counters=dict(self._counters),
                timers={
                    name: TimerStats(s.count, s.total, s.max)
                    for name, s in self._timers.items()
                },
            )
