"""The llm-kafka pytest plugin, loaded through its pytest11 entry point into a user's test run."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

USER_TESTS = """
import asyncio

from llm_kafka.testing import FakeLLM, RateLimited, StoredRecord


def test_memory_broker_round_trip(memory_broker):
    memory_broker.create_topic("orders", partitions=2)
    memory_broker.send("orders", {"id": "1"}, key="customer-7")

    [record] = memory_broker.records("orders")

    assert isinstance(record, StoredRecord)
    assert record.json() == {"id": "1"}


def test_memory_broker_is_fresh_per_test(memory_broker):
    assert memory_broker.topics() == set()


def test_fake_llm_waits_on_fake_clock(fake_llm, fake_clock):
    fake_llm.set_responses([RateLimited(retry_after=3), "ok"])
    client = fake_llm.client()

    response = client.complete("hi")

    assert response.text == "ok"
    assert fake_clock.slept >= 3
    assert fake_llm.calls == 2


def test_llm_server_listens_on_loopback(llm_server):
    assert llm_server.url.startswith("http://127.0.0.1:")
"""


def test_plugin_fixtures_serve_user_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=4)


def test_plugin_registers_kafka_marker(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")

    result.stdout.fnmatch_lines(["@pytest.mark.kafka:*"])


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="def test_uses_memory_broker(memory_broker):\n    pass\n")

    result = pytester.runpytest_subprocess("-p", "no:llm_kafka")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'memory_broker' not found*"])
