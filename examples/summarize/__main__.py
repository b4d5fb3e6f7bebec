"""Run the getting-started pipeline over three sample documents and print the summaries.

    python -m examples.summarize

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
from examples.summarize.pipeline import build_pipeline

DOCUMENTS = [
    {"id": "doc-1", "content": "Kafka stores records in partitions; each partition is an ordered log."},
    {"id": "doc-2", "content": "A consumer group shares the partitions of a topic among its members."},
    {"id": "doc-3", "content": "Committed offsets tell a group where to resume after a restart."},
]


def main() -> int:
    with kafka_bootstrap_servers() as bootstrap_servers, llm_client("gpt-4o-mini") as llm:
        topics = create_topics(bootstrap_servers, "summarize", ["documents", "summaries", "summaries.dlq"])
        produce_json(bootstrap_servers, topics["documents"], DOCUMENTS)

        run_until_settled(build_pipeline(bootstrap_servers, topics, llm), expected=len(DOCUMENTS))

        for _, output in read_json(bootstrap_servers, [topics["summaries"]], expected=len(DOCUMENTS)):
            print(f"{output['id']}: {output['result']['summary']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
