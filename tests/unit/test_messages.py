"""Message format: every kind of bad input becomes a typed error that names the problem."""

import pytest

from llm_kafka.errors import DeserializationError, MessageValidationError
from llm_kafka.messages import InputMessage, MessageFormat, encode_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (b"\xff\xfe", "UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON list"),
        (b'"text"', "JSON str"),
    ],
)
def test_parse_rejects_bad_bytes(value: bytes | None, expected: str) -> None:
    with pytest.raises(DeserializationError, match=expected):
        MessageFormat().parse(value)


def test_parse_names_missing_fields() -> None:
    with pytest.raises(MessageValidationError) as raised:
        MessageFormat().parse(b'{"type": "x"}')

    assert set(raised.value.fields) == {"id", "content"}


def test_parse_reads_default_envelope() -> None:
    message = MessageFormat().parse(b'{"id": "1", "type": "t", "content": {"a": 1}}')

    assert isinstance(message, InputMessage)
    assert message.type == "t"
    assert message.content == {"a": 1}


def test_output_keeps_id_original_and_metadata() -> None:
    message_format = MessageFormat()
    message = message_format.parse(
        b'{"id": "7", "content": "hi", "metadata": {"k": "v"}}'
    )

    output = message_format.build_output(
        message, {"answer": 1}, {"processor": "P", "processing_time_ms": 1.0}
    )

    assert output.model_dump() == {
        "id": "7",
        "original": "hi",
        "result": {"answer": 1},
        "metadata": {"k": "v", "processor": "P", "processing_time_ms": 1.0},
    }


def test_encode_json_keeps_non_ascii_text() -> None:
    assert encode_json({"text": "café"}) == '{"text":"café"}'.encode()
