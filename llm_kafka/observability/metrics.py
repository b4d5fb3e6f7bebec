"""``MetricsCollector``: counters, timers and gauges that also record through OpenTelemetry.

Values are kept in process for ``snapshot()`` (the demo's summary and tests read them) and
sent to the OpenTelemetry metrics API, so any configured exporter receives them. Without
an OpenTelemetry SDK the API is a no-op and only the in-process values remain. The
built-in names, with their units and descriptions, are in ``instruments``.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics as otel_metrics

from llm_kafka.observability.instruments import (
    BUILTIN_INSTRUMENTS,
    METRIC_PREFIX,
    InstrumentKind,
    InstrumentSpec,
)

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
    """A copy of the collector's values at one moment.

    ``gauges`` contains each gauge's sum over its attribute sets (for ``consumer.lag``, the
    total lag of all partitions). ``gauge_series`` contains each attribute set's own value.
    """

    counters: dict[str, float] = field(default_factory=dict)
    timers: dict[str, TimerStats] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    gauge_series: dict[str, dict[tuple[tuple[str, Any], ...], float]] = field(default_factory=dict)

    def counter(self, name: str) -> float:
        """Return the total of counter ``name`` over all attributes, 0 if never incremented."""
        return self.counters.get(name, 0.0)

    def gauge(self, name: str, attributes: Attributes | None = None) -> float:
        """Return gauge ``name`` for ``attributes``, or its sum over all of them when None."""
        if attributes is None:
            return self.gauges.get(name, 0.0)
        return self.gauge_series.get(name, {}).get(_series_key(attributes), 0.0)


def _series_key(attributes: Attributes | None) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((attributes or {}).items()))


class MetricsCollector:
    """Counters, named timers and gauges, thread-safe.

    ``start_timer(name)`` and ``stop_timer(name)`` measure one span of work per name and
    thread; ``stop_timer`` returns the seconds elapsed. For overlapping work, use
    ``record_duration`` with your own measurement. ``meter`` defaults to the global
    OpenTelemetry meter provider's ``llm_kafka`` meter, looked up at construction.

    Each name becomes the instrument ``llm_kafka.<name>``. A built-in name (see
    ``instruments.BUILTIN_INSTRUMENTS``) gets its unit and description, and recording it with
    the wrong method raises ``ValueError``. Any other name is created on first use, without
    a unit unless it is a duration (``s``).
    """

    def __init__(self, meter: otel_metrics.Meter | None = None) -> None:
        self._meter = meter or otel_metrics.get_meter("llm_kafka")
        self._lock = threading.Lock()
        self._counters: dict[str, float] = defaultdict(float)
        self._timers: dict[str, TimerStats] = defaultdict(TimerStats)
        self._gauges: dict[str, dict[tuple[tuple[str, Any], ...], float]] = defaultdict(dict)
        self._started = threading.local()
        self._instruments: dict[str, tuple[InstrumentKind, Any]] = {}

    def increment(self, name: str, value: float = 1, attributes: Attributes | None = None) -> None:
        """Add ``value`` to counter ``name``."""
        with self._lock:
            self._counters[name] += value
            instrument = self._instrument(name, InstrumentKind.COUNTER)
        instrument.add(value, attributes=dict(attributes or {}))

    def set_gauge(self, name: str, value: float, attributes: Attributes | None = None) -> None:
        """Set gauge ``name`` to ``value`` for ``attributes`` (a level such as in-flight messages)."""
        with self._lock:
            self._gauges[name][_series_key(attributes)] = value
            instrument = self._instrument(name, InstrumentKind.GAUGE)
        instrument.set(value, attributes=dict(attributes or {}))

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

    def record_duration(self, name: str, seconds: float, attributes: Attributes | None = None) -> None:
        """Record one duration of ``seconds`` under timer ``name``."""
        with self._lock:
            stats = self._timers[name]
            stats.count += 1
            stats.total += seconds
            stats.max = max(stats.max, seconds)
            instrument = self._instrument(name, InstrumentKind.HISTOGRAM)
        instrument.record(seconds, attributes=dict(attributes or {}))

    def snapshot(self) -> MetricsSnapshot:
        """Return a copy of all values."""
        with self._lock:
            return MetricsSnapshot(
                counters=dict(self._counters),
                timers={name: TimerStats(s.count, s.total, s.max) for name, s in self._timers.items()},
                gauges={name: sum(series.values()) for name, series in self._gauges.items()},
                gauge_series={name: dict(series) for name, series in self._gauges.items()},
            )

    def _instrument(self, name: str, kind: InstrumentKind) -> Any:
        """Return the OpenTelemetry instrument of ``name``, creating it on first use; holds the lock."""
        known = self._instruments.get(name)
        if known is not None:
            if known[0] is not kind:
                raise ValueError(f"metric {name!r} is a {known[0].value}, not a {kind.value}")
            return known[1]

        spec = BUILTIN_INSTRUMENTS.get(name)
        if spec is not None and spec.kind is not kind:
            raise ValueError(
                f"metric {name!r} is a built-in {spec.kind.value}; record it with "
                f"{_RECORDING_METHOD[spec.kind]}, not {_RECORDING_METHOD[kind]}"
            )
        if spec is None:
            spec = InstrumentSpec(name, kind, "s" if kind is InstrumentKind.HISTOGRAM else "", "")

        instrument = self._create(spec)
        self._instruments[name] = (kind, instrument)
        return instrument

    def _create(self, spec: InstrumentSpec) -> Any:
        name = f"{METRIC_PREFIX}{spec.name}"
        if spec.kind is InstrumentKind.COUNTER:
            return self._meter.create_counter(name, unit=spec.unit, description=spec.description)
        if spec.kind is InstrumentKind.HISTOGRAM:
            return self._meter.create_histogram(name, unit=spec.unit, description=spec.description)
        return self._meter.create_gauge(name, unit=spec.unit, description=spec.description)


_RECORDING_METHOD = {
    InstrumentKind.COUNTER: "increment()",
    InstrumentKind.HISTOGRAM: "record_duration() or a timer",
    InstrumentKind.GAUGE: "set_gauge()",
}
