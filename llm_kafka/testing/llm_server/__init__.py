"""Local OpenAI- and Anthropic-compatible LLM server for tests, demos and users' own tests.

The server derives every response from the request (see `expected_chat_answer`,
`generate_from_schema` and `embedding_vector`) and injects latency, rate limits, errors, hangs
and malformed answers as `FaultSettings` say. Run it with `python -m llm_kafka.testing.llm_server`.
"""

from llm_kafka.testing.llm_server.faults import FaultSettings
from llm_kafka.testing.llm_server.responses import (
    DEFAULT_EMBEDDING_DIMENSIONS,
    MALFORMED_PROSE,
    embedding_vector,
    estimate_tokens,
    expected_chat_answer,
    json_object_answer,
)
from llm_kafka.testing.llm_server.schema_values import SchemaError, generate_from_schema
from llm_kafka.testing.llm_server.server import LocalLLMServer
from llm_kafka.testing.llm_server.stats import ServerStats

__all__ = [
    "DEFAULT_EMBEDDING_DIMENSIONS",
    "MALFORMED_PROSE",
    "FaultSettings",
    "LocalLLMServer",
    "SchemaError",
    "ServerStats",
    "embedding_vector",
    "estimate_tokens",
    "expected_chat_answer",
    "generate_from_schema",
    "json_object_answer",
]
