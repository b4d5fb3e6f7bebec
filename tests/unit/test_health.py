"""Health: the state's liveness and readiness rules, and the HTTP endpoint that serves them."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from llm_kafka.observability.health import HealthServer, HealthState
from llm_kafka.resilience.circuit_breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ready_state(clock: Clock | None = None) -> HealthState:
    state = HealthState(liveness_timeout_s=10, clock=clock or Clock())
    state.set_assignment(3)
    return state


def get(server: HealthServer, path: str) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_liveness_allows_start_up_then_needs_beats() -> None:
    clock = Clock()
    state = HealthState(liveness_timeout_s=10, clock=clock)

    clock.now += 9
    assert state.liveness().ok
    clock.now += 2
    assert not state.liveness().ok
    state.beat()
    assert state.liveness().ok


def test_liveness_reason_names_silence_and_limit() -> None:
    clock = Clock()
    state = HealthState(liveness_timeout_s=10, clock=clock)
    clock.now += 12.5

    assert state.liveness().reasons == ("poll loop has not turned for 12.5s (limit 10s)",)


def test_readiness_needs_assigned_partitions() -> None:
    state = HealthState()

    assert state.readiness().reasons == ("no partitions assigned",)
    state.set_assignment(1)
    assert state.readiness().ok
    state.set_assignment(0)
    assert not state.readiness().ok


def test_readiness_without_assignment_requirement() -> None:
    assert HealthState(require_assignment=False).readiness().ok


def test_readiness_fails_while_broker_unreachable() -> None:
    state = ready_state()

    state.set_broker_reachable(False)
    assert state.readiness().reasons == ("Kafka brokers unreachable",)
    state.set_broker_reachable(True)
    assert state.readiness().ok


def test_readiness_fails_while_any_breaker_open() -> None:
    state = ready_state()

    state.set_breaker_open(True, "openai:gpt")
    state.set_breaker_open(True, "anthropic:claude")
    state.set_breaker_open(False, "openai:gpt")

    assert state.readiness().reasons == ("circuit breaker open: anthropic:claude",)


def test_readiness_fails_once_stopping() -> None:
    state = ready_state()

    state.set_stopping()

    assert state.readiness().reasons == ("pipeline is stopping",)


def test_watch_breaker_follows_state_changes() -> None:
    state = ready_state()
    clock = Clock()
    breaker = CircuitBreaker("llm", failure_threshold=1, recovery_timeout=60, is_failure=lambda _: True, clock=clock)
    state.watch_breaker(breaker)

    breaker.record_failure(breaker.acquire(), RuntimeError("down"))
    assert not state.readiness().ok
    clock.now += 61
    breaker.record_success(breaker.acquire())
    assert state.readiness().ok


def test_state_is_safe_across_threads() -> None:
    state = ready_state()

    def work() -> None:
        for count in range(1000):
            state.beat()
            state.set_assignment(count % 4 + 1)
            state.readiness()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert state.liveness().details["beats"] == 4000


def test_server_answers_probes() -> None:
    clock = Clock()
    state = ready_state(clock)

    with HealthServer(state, port=0) as server:
        assert get(server, "/livez") == (200, {"status": "ok", "reasons": [], "seconds_since_beat": 0.0, "beats": 0})
        status, body = get(server, "/readyz")
        assert status == 200
        assert body["assigned_partitions"] == 3

        clock.now += 11
        state.set_breaker_open(True)
        status, body = get(server, "/livez")
        assert status == 503
        assert body["status"] == "fail"
        status, body = get(server, "/readyz")
        assert status == 503
        assert body["reasons"] == ["circuit breaker open: llm"]


def test_server_unknown_path_is_404() -> None:
    with HealthServer(ready_state(), port=0) as server:
        status, body = get(server, "/metrics")

    assert status == 404
    assert body["paths"] == ["/livez", "/readyz"]


def test_server_listens_on_loopback_by_default() -> None:
    server = HealthServer(HealthState(), port=0)

    assert server.host == "127.0.0.1"


def test_server_stop_is_idempotent_and_frees_port() -> None:
    server = HealthServer(ready_state(), port=0).start()
    port = server.port
    server.stop()
    server.stop()

    with HealthServer(ready_state(), port=port):
        pass


def test_liveness_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="liveness_timeout_s"):
        HealthState(liveness_timeout_s=0)
