"""The embeddings example (examples/embeddings) on the real broker and the local LLM server."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from examples._support import read_json, run_until_settled
from examples.embeddings.__main__ import DOCUMENTS, build_pipeline
from examples.embeddings.processor import Document, embedding_input
from llm_kafka import LLMClient
from llm_kafka.testing.llm_server import DEFAULT_EMBEDDING_DIMENSIONS, LocalLLMServer, embedding_vector

from .kafka_io import produce

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.skipif(not hasattr(LLMClient, "aembed"), reason="LLMClient.aembed is not in this version yet"),
]


def test_embeddings_adds_vector_per_document(bootstrap_servers: str, new_topic: Callable[..., str]) -> None:
    topics = {name: new_topic(name) for name in ("documents", "enriched", "dlq")}
    produce(bootstrap_servers, topics["documents"], [(None, json.dumps(document).encode()) for document in DOCUMENTS])

    with LocalLLMServer() as server:
        llm = LLMClient("openai", "local-embedding", api_key="local", base_url=server.openai_base_url)
        run_until_settled(build_pipeline(bootstrap_servers, topics, llm, "embeddings-test"), expected=len(DOCUMENTS))

    outputs = {value["id"]: value for _, value in read_json(bootstrap_servers, [topics["enriched"]], len(DOCUMENTS))}
    assert sorted(outputs) == sorted(document["id"] for document in DOCUMENTS)
    for document in DOCUMENTS:
        result = outputs[document["id"]]["result"]
        expected = embedding_vector(embedding_input(Document.model_validate(document["content"])))
        assert result["dimensions"] == DEFAULT_EMBEDDING_DIMENSIONS
        assert result["embedding"] == pytest.approx(expected)
        assert math.isclose(math.fsum(value * value for value in result["embedding"]), 1.0, rel_tol=1e-6)
        assert result["title"] == document["content"]["title"]
