"""Run the web service until SIGINT or SIGTERM.

    python -m examples.web_service [--port 8080]

It uses the broker in KAFKA_BOOTSTRAP_SERVERS or starts a local one, and OpenAI when
OPENAI_API_KEY is set or else the local LLM server. Try it with
``curl -d '{"id": "1", "content": "Kafka keeps records in partitions."}' 127.0.0.1:8080/documents``
and ``curl 127.0.0.1:8080/stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from examples._support import create_topics, kafka_bootstrap_servers, llm_client
from examples.web_service.app import Keywords, WebService
from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings


def build_pipeline(bootstrap_servers: str, topics: dict[str, str], llm: LLMClient, group_id: str) -> Pipeline:
    """Build the pipeline from ``topics["documents"]`` to ``topics["keywords"]``."""
    return Pipeline(
        Keywords(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id=group_id),
        settings=PipelineSettings(
            input_topics=[topics["documents"]],
            output_topic=topics["keywords"],
            dead_letter_topic=topics["dlq"],
        ),
        llm=llm,
    )


async def serve_until_signal(service: WebService) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.serve(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080, help="HTTP port on 127.0.0.1 (default: 8080)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    with kafka_bootstrap_servers() as bootstrap_servers, llm_client("gpt-4o-mini") as llm:
        topics = create_topics(bootstrap_servers, "web-service", ["documents", "keywords", "dlq"])
        print(f"input topic {topics['documents']}, output topic {topics['keywords']}")
        pipeline = build_pipeline(bootstrap_servers, topics, llm, "web-service")
        asyncio.run(serve_until_signal(WebService(pipeline, topics["documents"], port=arguments.port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
