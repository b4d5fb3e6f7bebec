"""Message formats: how record bytes become an input message and a result becomes output bytes.

The default format is the envelope ``{"id", "type", "content", "metadata"}`` in and
``{"id", "original", "result", "metadata"}`` out. A user replaces it by subclassing
``MessageFormat``. Every failure here raises a ``ProcessingError`` subclass, so bad input
goes to the dead-letter topic instead of stopping the pipeline.
"""

from __future__ import annotations

import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from llm_kafka.errors import DeserializationError, MessageValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)

DEFAULT_MESSAGE_TYPE = "default"


class InputMessage(BaseModel):
    """The default input envelope."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(
        min_length=1, description="Caller's message id, copied to the output."
    )
    type: str = Field(
        default=DEFAULT_MESSAGE_TYPE, description="Routes the message to a processor."
    )
    content: Any = Field(description="The payload the processor works on.")
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Caller's metadata."
    )


class OutputMessage(BaseModel):
    """The default output envelope; ``metadata`` carries ``processing_time_ms`` and ``processor``."""

    id: str
    original: Any
    result: Any
    metadata: dict[str, Any]


def decode_json_object(value: bytes | None) -> dict[str, Any]:
    """Parse a record value as a UTF-8 JSON object, raising ``DeserializationError`` otherwise."""
    if value is None:
        raise DeserializationError("record value is null; expected a JSON object")

    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DeserializationError(
            f"record value is not valid UTF-8: {error}"
        ) from error

    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise DeserializationError(
            f"record value is not valid JSON: {error}"
        ) from error

    if not isinstance(payload, dict):
        raise DeserializationError(
            f"record value is a JSON {type(payload).__name__}; expected a JSON object"
        )
    return payload


def validate_model(model: type[ModelT], data: Any, subject: str) -> ModelT:
    """Validate ``data`` as ``model``, raising ``MessageValidationError`` that names the bad fields."""
    try:
        return model.model_validate(data)
    except PydanticValidationError as error:
        fields = [
            ".".join(str(part) for part in item["loc"]) or "<root>"
            for item in error.errors()
        ]
        details = "; ".join(
            f"{field}: {item['msg']}"
            for field, item in zip(fields, error.errors(), strict=True)
        )
        raise MessageValidationError(
            f"invalid {subject}: {details}", fields=fields
        ) from error


def encode_json(payload: Any) -> bytes:
    """Serialize ``payload`` as compact UTF-8 JSON, turning pydantic models into plain data."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return json.dumps(
        payload, ensure_ascii=False, separators=(",", ":"), default=_json_default
    ).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"object of type {type(value).__name__} is not JSON serializable")


class MessageFormat(Generic[ModelT]):
    """Turns record values into input models and results into output payloads.

    Subclass it and set ``input_model`` (or override the methods) to use your own format.
    Methods run on worker threads and must not keep per-message state on ``self``.
    """

    input_model: type[BaseModel] = InputMessage

    def parse(self, value: bytes | None) -> Any:
        """Decode and validate one record value; raise a ``ProcessingError`` on bad input."""
        return validate_model(self.input_model, decode_json_object(value), "message")

    def route(self, message: Any) -> str:
        """Return the processor route for ``message``: its ``type`` field by default."""
        return str(getattr(message, "type", DEFAULT_MESSAGE_TYPE))

    def message_id(self, message: Any) -> str | None:
        """Return the caller's id of ``message`` for logs and headers, if it has one."""
        value = getattr(message, "id", None)
        return None if value is None else str(value)

    def build_output(self, message: Any, result: Any, metadata: dict[str, Any]) -> Any:
        """Return the output payload for ``result``; ``encode_json`` serializes it."""
        original = message.content if isinstance(message, InputMessage) else message
        return OutputMessage(
            id=self.message_id(message) or "",
            original=original.model_dump(mode="json")
            if isinstance(original, BaseModel)
            else original,
            result=result,
            metadata={**getattr(message, "metadata", {}), **metadata},
        )
