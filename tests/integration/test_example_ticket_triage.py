"""The ticket triage example (examples/ticket_triage) on the real broker and the local LLM server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from examples._support import read_json, run_until_settled
from examples.ticket_triage.__main__ import TICKETS, build_pipeline
from examples.ticket_triage.processor import QUEUES, TicketTriage
from llm_kafka import LLMClient
from llm_kafka.testing.llm_server import LocalLLMServer

from .kafka_io import produce

pytestmark = pytest.mark.kafka


@pytest.fixture
def llm() -> Iterator[LLMClient]:
    with LocalLLMServer() as server:
        yield LLMClient("openai", "local-model", api_key="local", base_url=server.openai_base_url)


def test_triage_rejects_missing_queue_topic() -> None:
    with pytest.raises(ValueError, match="no topic for queues"):
        TicketTriage({"billing": "billing-topic"})


def test_triage_sends_each_ticket_to_its_queue_topic(
    bootstrap_servers: str, new_topic: Callable[..., str], llm: LLMClient
) -> None:
    topics = {name: new_topic(name) for name in ("tickets", "unrouted", "dlq", *QUEUES)}
    produce(bootstrap_servers, topics["tickets"], [(None, json.dumps(ticket).encode()) for ticket in TICKETS])
    invalid = {"id": "t-invalid", "content": {"subject": "no body"}}
    produce(bootstrap_servers, topics["tickets"], [(None, json.dumps(invalid).encode())])

    run_until_settled(build_pipeline(bootstrap_servers, topics, llm, "triage-test"), expected=len(TICKETS) + 1)

    routed = read_json(bootstrap_servers, [topics[queue] for queue in QUEUES], expected=len(TICKETS), timeout_s=30)
    queue_of_topic = {topics[queue]: queue for queue in QUEUES}
    assert sorted(output["id"] for _, output in routed) == sorted(ticket["id"] for ticket in TICKETS)
    for topic, output in routed:
        assert output["result"]["queue"] == queue_of_topic[topic], output
    assert read_json(bootstrap_servers, [topics["unrouted"]], expected=1, timeout_s=3) == []
    dead_letters = read_json(bootstrap_servers, [topics["dlq"]], expected=1, timeout_s=30)
    assert [value["id"] for _, value in dead_letters] == ["t-invalid"]
