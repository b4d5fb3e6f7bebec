"""Dead-letter records: the original record unchanged, plus headers that explain the failure.

The key, value bytes and headers of the input are kept as they were, so a replay can send
the record back unchanged. The added headers all start with ``llm_kafka.`` and hold UTF-8
text; their names are the constants below.
"""

from __future__ import annotations

from dataclasses import dataclass

from llm_kafka.processor import RecordInfo

HEADER_SOURCE_TOPIC = "llm_kafka.source.topic"
HEADER_SOURCE_PARTITION = "llm_kafka.source.partition"
HEADER_SOURCE_OFFSET = "llm_kafka.source.offset"
HEADER_SOURCE_TIMESTAMP = "llm_kafka.source.timestamp"
HEADER_ERROR_TYPE = "llm_kafka.error.type"
HEADER_ERROR_MESSAGE = "llm_kafka.error.message"
HEADER_ATTEMPTS = "llm_kafka.attempts"
HEADER_PROCESSOR = "llm_kafka.processor"
HEADER_MESSAGE_ID = "llm_kafka.message.id"
HEADER_RAW_OUTPUT = "llm_kafka.error.raw_output"

# Kafka headers have no size limit of their own, but the record must fit the producer's
# message.max.bytes. So a long error message or model output is cut to this many characters.
_MAX_HEADER_TEXT = 4000


@dataclass(frozen=True)
class FailureInfo:
    """The failure details written to the dead-letter headers."""

    error_type: str
    error_message: str
    attempts: int
    processor: str
    message_id: str | None = None
    raw_output: str | None = None


def _cut(text: str) -> str:
    if len(text) <= _MAX_HEADER_TEXT:
        return text
    return text[: _MAX_HEADER_TEXT - 15] + "...[truncated]"


def dead_letter_headers(record: RecordInfo, failure: FailureInfo) -> list[tuple[str, bytes | None]]:
    """Return the input's headers followed by the llm-kafka failure headers."""
    added = {
        HEADER_SOURCE_TOPIC: record.topic,
        HEADER_SOURCE_PARTITION: str(record.partition),
        HEADER_SOURCE_OFFSET: str(record.offset),
        HEADER_SOURCE_TIMESTAMP: "" if record.timestamp_ms is None else str(record.timestamp_ms),
        HEADER_ERROR_TYPE: failure.error_type,
        HEADER_ERROR_MESSAGE: _cut(failure.error_message),
        HEADER_ATTEMPTS: str(failure.attempts),
        HEADER_PROCESSOR: failure.processor,
    }
    if failure.message_id is not None:
        added[HEADER_MESSAGE_ID] = failure.message_id
    if failure.raw_output is not None:
        added[HEADER_RAW_OUTPUT] = _cut(failure.raw_output)
    return [
        *record.headers,
        *((name, value.encode("utf-8")) for name, value in added.items()),
    ]
