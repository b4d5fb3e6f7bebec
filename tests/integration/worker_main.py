"""A pipeline worker process for the crash tests: ``python -m tests.integration.worker_main CONFIG_JSON``."""

from __future__ import annotations

import json
import logging
import sys

from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings, RetryPolicy

from .processors import LLMEchoProcessor


def main() -> None:
    config = json.loads(sys.argv[1])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    llm = LLMClient(
        "openai",
        "local-model",
        api_key="local",
        base_url=config["llm_base_url"],
        retry_policy=RetryPolicy(max_attempts=3, base_delay=0.05),
    )
    pipeline = Pipeline(
        LLMEchoProcessor(),
        kafka=KafkaSettings(
            bootstrap_servers=config["bootstrap_servers"], group_id=config["group_id"]
        ),
        settings=PipelineSettings(
            input_topics=[config["input"]],
            output_topic=config["output"],
            dead_letter_topic=config["dlq"],
            commit_interval_s=config.get("commit_interval_s", 0.5),
        ),
        llm=llm,
    )
    pipeline.run()


if __name__ == "__main__":
    main()
