"""Liveness and readiness of a pipeline, and a small HTTP endpoint that reports them.

The engine reports into a ``HealthState``; ``HealthServer`` serves it for Kubernetes
probes (``/livez`` and ``/readyz``) from a standard-library HTTP server on its own thread.
The server is off unless started, and listens on 127.0.0.1 unless given another host.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthCheck:
    """The result of a liveness or readiness check: ``ok`` and one reason per failed condition."""

    ok: bool
    reasons: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)


class HealthState:
    """The engine's reports about itself, read by the health endpoint. Thread-safe.

    The engine calls:

    - ``beat()`` once per poll-loop turn, from the poll thread;
    - ``set_assignment(count)`` after every assign, revoke or loss, with the number of
      partitions the consumer now owns;
    - ``set_broker_reachable(reachable)`` with False when the client reports that all
      brokers are down, and True when a poll or commit succeeds again;
    - ``set_breaker_open(is_open, name)`` from a circuit breaker's state listener (see
      ``watch_breaker``).

    ``HealthReportingTransport`` makes the first three calls from the pipeline's consumer.

    Liveness fails when no beat arrived for ``liveness_timeout_s`` seconds; the time of
    construction counts as the first beat, so start-up gets that long. Readiness fails
    while no partition is assigned (unless ``require_assignment`` is false), while the
    broker is unreachable, while a circuit breaker is open, or after ``set_stopping()``.
    """

    def __init__(
        self,
        liveness_timeout_s: float = 60.0,
        *,
        require_assignment: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if liveness_timeout_s <= 0:
            raise ValueError(f"liveness_timeout_s must be positive seconds, got {liveness_timeout_s}")
        self.liveness_timeout_s = liveness_timeout_s
        self.require_assignment = require_assignment
        self._clock = clock
        self._lock = threading.Lock()
        self._last_beat = clock()
        self._beats = 0
        self._assigned = 0
        self._broker_reachable = True
        self._open_breakers: set[str] = set()
        self._stopping = False

    def beat(self) -> None:
        """Record one turn of the poll loop."""
        with self._lock:
            self._last_beat = self._clock()
            self._beats += 1

    def set_assignment(self, count: int) -> None:
        """Record how many partitions the consumer owns now."""
        with self._lock:
            self._assigned = count

    def set_broker_reachable(self, reachable: bool) -> None:
        """Record whether the Kafka brokers respond."""
        with self._lock:
            self._broker_reachable = reachable

    def set_breaker_open(self, is_open: bool, name: str = "llm") -> None:
        """Record whether circuit breaker ``name`` is open (half-open counts as not open)."""
        with self._lock:
            if is_open:
                self._open_breakers.add(name)
            else:
                self._open_breakers.discard(name)

    def set_stopping(self) -> None:
        """Record that the pipeline is shutting down, so readiness fails from now on."""
        with self._lock:
            self._stopping = True

    def watch_breaker(self, breaker: Any) -> None:
        """Follow a ``CircuitBreaker``'s state through its listener interface."""
        self.set_breaker_open(str(getattr(breaker.state, "value", breaker.state)) == "open", breaker.name)

        def on_change(changed: Any, old: Any, new: Any) -> None:
            self.set_breaker_open(str(getattr(new, "value", new)) == "open", changed.name)

        breaker.add_listener(on_change)

    def liveness(self) -> HealthCheck:
        """Return whether the poll loop turned within ``liveness_timeout_s`` seconds."""
        with self._lock:
            silent_s = self._clock() - self._last_beat
            beats = self._beats
        details = {"seconds_since_beat": round(silent_s, 3), "beats": beats}
        if silent_s > self.liveness_timeout_s:
            reason = f"poll loop has not turned for {silent_s:.1f}s (limit {self.liveness_timeout_s:g}s)"
            return HealthCheck(False, (reason,), details)
        return HealthCheck(True, (), details)

    def readiness(self) -> HealthCheck:
        """Return whether the pipeline can take work: assigned, connected, breakers closed."""
        with self._lock:
            assigned = self._assigned
            reachable = self._broker_reachable
            open_breakers = sorted(self._open_breakers)
            stopping = self._stopping
        reasons = []
        if stopping:
            reasons.append("pipeline is stopping")
        if self.require_assignment and assigned == 0:
            reasons.append("no partitions assigned")
        if not reachable:
            reasons.append("Kafka brokers unreachable")
        if open_breakers:
            reasons.append(f"circuit breaker open: {', '.join(open_breakers)}")
        details = {"assigned_partitions": assigned, "broker_reachable": reachable, "open_breakers": open_breakers}
        return HealthCheck(not reasons, tuple(reasons), details)


class HealthServer:
    """Serves ``GET /livez`` and ``GET /readyz`` for one ``HealthState``.

    Each returns 200 with ``{"status": "ok", ...}`` or 503 with ``{"status": "fail",
    "reasons": [...]}``. Other paths return 404. ``port`` 0 picks a free port, readable
    from ``port`` after ``start()``. Example::

        state = HealthState(liveness_timeout_s=30)
        server = HealthServer(state, port=8081).start()
        ...
        server.stop()
    """

    def __init__(self, state: HealthState, port: int = 8081, host: str = "127.0.0.1") -> None:
        self.state = state
        self.host = host
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port; raises ``RuntimeError`` before ``start()``."""
        if self._server is None:
            raise RuntimeError("health server is not started")
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Bind and serve from a daemon thread; raises ``OSError`` if the port is taken."""
        if self._server is not None:
            raise RuntimeError("health server already started")
        self._server = ThreadingHTTPServer((self.host, self._requested_port), _handler_for(self.state))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="llm-kafka-health", daemon=True)
        self._thread.start()
        logger.info("health endpoint serving on http://%s:%d (/livez, /readyz)", self.host, self.port)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        logger.info("health endpoint on %s stopped", self.host)
        self._server = None

    def __enter__(self) -> HealthServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _handler_for(state: HealthState) -> type[BaseHTTPRequestHandler]:
    checks: dict[str, Callable[[], HealthCheck]] = {"/livez": state.liveness, "/readyz": state.readiness}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(include_body=True)

        def do_HEAD(self) -> None:
            self._answer(include_body=False)

        def _answer(self, include_body: bool) -> None:
            check = checks.get(self.path.split("?", 1)[0])
            if check is None:
                status, document = 404, {"status": "not found", "paths": sorted(checks)}
            else:
                result = check()
                status = 200 if result.ok else 503
                document = {"status": "ok" if result.ok else "fail", "reasons": list(result.reasons), **result.details}
            body = json.dumps(document).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if include_body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # Probes arrive every few seconds; keep them out of the INFO log.
            logger.debug("health request from %s: " + format, self.address_string(), *args)

    return Handler
