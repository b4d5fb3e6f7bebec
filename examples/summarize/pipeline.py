"""The getting-started pipeline: one LLM call summarizes each document in one sentence.

``docs/getting-started.md`` shows the part between the ``--8<--`` markers.
"""

from __future__ import annotations

from typing import Any

# --8<-- [start:pipeline]
from llm_kafka import BaseProcessor, KafkaSettings, LLMClient, Pipeline, PipelineSettings, ProcessingContext


class Summarize(BaseProcessor):
    async def process(self, data: Any, context: ProcessingContext) -> dict[str, str]:
        assert context.llm is not None, "this processor needs a pipeline with an LLM client"
        response = await context.llm.acomplete(f"Summarize in one sentence:\n{data}")
        return {"summary": response.text}


def build_pipeline(bootstrap_servers: str, topics: dict[str, str], llm: LLMClient) -> Pipeline:
    return Pipeline(
        Summarize(),
        kafka=KafkaSettings(bootstrap_servers=bootstrap_servers, group_id="summaries"),
        settings=PipelineSettings(
            input_topics=[topics["documents"]],
            output_topic=topics["summaries"],
            dead_letter_topic=topics["summaries.dlq"],
        ),
        llm=llm,
    )


# --8<-- [end:pipeline]
