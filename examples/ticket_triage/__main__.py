"""Triage five sample tickets and print the queue topic each one was sent to.

    python -m examples.ticket_triage

It uses the broker in KAFKA_BOOTSTRAP_SERVERS or starts a local one, and OpenAI when
OPENAI_API_KEY is set or else the local LLM server.
"""

from __future__ import annotations

import sys

from examples._support import (
    create_topics,
    kafka_bootstrap_servers,
    llm_client,
    produce_json,
    read_json,
    run_until_settled,
)
from examples.ticket_triage.processor import QUEUES, TicketTriage
from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings

TICKETS = [
    {"id": "t-1", "content": {"subject": "Charged twice", "body": "My card was charged twice for March."}},
    {"id": "t-2", "content": {"subject": "Export fails", "body": "CSV export returns error 500 since this morning."}},
    {"id": "t-3", "content": {"subject": "Locked out", "body": "I cannot log in after resetting my password."}},
    {"id": "t-4", "content": {"subject": "Refund", "body": "Please refund the annual plan I bought by mistake."}},
    {"id": "t-5", "content": {"subject": "Slow dashboard", "body": "The dashboard takes a minute to load."}},
]


def build_pipeline(bootstrap_servers: str, topics: dict[str, str], llm: LLMClient, group_id: str) -> Pipeline:
    """Build the triage pipeline; ``topics`` names one topic per queue plus ``unrouted`` and ``dlq``."""
    return Pipeline(
        TicketTriage({queue: topics[queue] for queue in QUEUES}),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id=group_id),
        settings=PipelineSettings(
            input_topics=[topics["tickets"]],
            output_topic=topics["unrouted"],
            dead_letter_topic=topics["dlq"],
        ),
        llm=llm,
    )


def main() -> int:
    with kafka_bootstrap_servers() as bootstrap_servers, llm_client("gpt-4o-mini") as llm:
        topics = create_topics(bootstrap_servers, "triage", ["tickets", "unrouted", "dlq", *QUEUES])
        produce_json(bootstrap_servers, topics["tickets"], TICKETS)

        run_until_settled(build_pipeline(bootstrap_servers, topics, llm, "ticket-triage"), expected=len(TICKETS))

        outputs = read_json(bootstrap_servers, [topics[name] for name in (*QUEUES, "unrouted")], len(TICKETS))
        for topic, output in sorted(outputs, key=lambda pair: str(pair[1]["id"])):
            print(f"{output['id']} -> {topic} ({output['result']['urgency']}): {output['result']['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
