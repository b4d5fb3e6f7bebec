"""Records as tests see them, and the value and key encoding of the test brokers' ``send``.

``StoredRecord`` is what ``InMemoryBroker.records`` and ``KafkaTestBroker.records`` return,
so a test reads outputs and dead letters the same way from either broker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RecordHeaders = tuple[tuple[str, bytes | None], ...]
HeadersArgument = Mapping[str, bytes | str | None] | Sequence[tuple[str, bytes | str | None]]


@dataclass(frozen=True)
class StoredRecord:
    """One record in a topic: where it sits, its key, value, headers and timestamp."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: RecordHeaders = ()
    timestamp_ms: int | None = None

    def json(self) -> Any:
        """Decode the value as UTF-8 JSON; raises ``ValueError`` if it is null or not JSON."""
        if self.value is None:
            raise ValueError(f"record {self.topic}[{self.partition}]@{self.offset} has a null value")
        return json.loads(self.value)

    def header(self, name: str) -> bytes | None:
        """Return the value of the last header called ``name``; raises ``KeyError`` if none is."""
        for header_name, value in reversed(self.headers):
            if header_name == name:
                return value
        raise KeyError(f"record {self.topic}[{self.partition}]@{self.offset} has no header {name!r}")

    def header_text(self, name: str) -> str | None:
        """Return the last header called ``name`` decoded as UTF-8."""
        value = self.header(name)
        return None if value is None else value.decode("utf-8")


def encode_value(value: bytes | str | Mapping[str, Any] | Sequence[Any] | None) -> bytes | None:
    """Encode a test record value: bytes as they are, text as UTF-8, anything else as JSON."""
    if value is None or isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return json.dumps(value).encode("utf-8")


def encode_key(key: bytes | str | None) -> bytes | None:
    """Encode a record key: bytes as they are, text as UTF-8."""
    if key is None or isinstance(key, bytes):
        return key
    return key.encode("utf-8")


def encode_headers(headers: HeadersArgument | None) -> RecordHeaders:
    """Return headers as ``(name, bytes)`` pairs, with text values encoded as UTF-8.

    confluent-kafka encodes ``str`` header values the same way when it produces them.
    """
    if headers is None:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((name, value.encode("utf-8") if isinstance(value, str) else value) for name, value in pairs)
