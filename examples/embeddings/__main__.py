"""Embed three sample documents and print the first values of each vector.

    python -m examples.embeddings

It uses the broker in KAFKA_BOOTSTRAP_SERVERS or starts a local one, and OpenAI's
text-embedding-3-small when OPENAI_API_KEY is set or else the local LLM server.
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
from examples.embeddings.processor import EmbedDocument
from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings

EMBEDDING_MODEL = "text-embedding-3-small"

DOCUMENTS = [
    {"id": "d-1", "content": {"title": "Partitions", "text": "A topic is split into ordered partitions."}},
    {"id": "d-2", "content": {"title": "Consumer groups", "text": "Members of a group share the partitions."}},
    {"id": "d-3", "content": {"title": "Offsets", "text": "A committed offset is where the group resumes."}},
]


def build_pipeline(bootstrap_servers: str, topics: dict[str, str], llm: LLMClient, group_id: str) -> Pipeline:
    """Build the enrichment pipeline from ``topics["documents"]`` to ``topics["enriched"]``."""
    return Pipeline(
        EmbedDocument(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id=group_id),
        settings=PipelineSettings(
            input_topics=[topics["documents"]],
            output_topic=topics["enriched"],
            dead_letter_topic=topics["dlq"],
        ),
        llm=llm,
    )


def main() -> int:
    with kafka_bootstrap_servers() as bootstrap_servers, llm_client(EMBEDDING_MODEL) as llm:
        topics = create_topics(bootstrap_servers, "embeddings", ["documents", "enriched", "dlq"])
        produce_json(bootstrap_servers, topics["documents"], DOCUMENTS)

        run_until_settled(build_pipeline(bootstrap_servers, topics, llm, "embeddings"), expected=len(DOCUMENTS))

        for _, output in read_json(bootstrap_servers, [topics["enriched"]], expected=len(DOCUMENTS)):
            result = output["result"]
            head = ", ".join(f"{value:+.3f}" for value in result["embedding"][:4])
            print(f"{output['id']} {result['title']!r}: {result['dimensions']} dimensions [{head}, ...]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
