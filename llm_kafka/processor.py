"""The processor interface users implement, and the context each hook receives.

A message passes ``validate_message`` -> ``preprocess`` -> ``process`` -> ``postprocess``.
Each hook may be a plain or an ``async def`` method. Plain hooks run on a worker thread and
async hooks on the pipeline's event loop, so a hook must not block the event loop and must
not keep per-message state on ``self``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from llm_kafka.messages import InputMessage, validate_model

if TYPE_CHECKING:
    from llm_kafka.llm.client import LLMClient


@dataclass(frozen=True)
class RecordInfo:
    """The Kafka source of a message: topic, partition, offset, key, headers and timestamp."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_ms: int | None = None

    def describe(self, message_id: str | None = None) -> str:
        """Return the one-line identity used in every log line about this message."""
        return f"topic={self.topic} partition={self.partition} offset={self.offset} id={message_id or '-'}"


@dataclass
class ProcessingContext:
    """The state a hook receives about the message being processed.

    ``llm`` is the pipeline's ``LLMClient``; ``message`` is the validated input, set once
    ``validate_message`` has returned.
    """

    record: RecordInfo
    processor: str
    llm: LLMClient | None = None
    message: Any = None
    message_id: str | None = None
    logger: logging.Logger = field(
        default_factory=lambda: logging.getLogger("llm_kafka.processor")
    )
    extra: dict[str, Any] = field(default_factory=dict)


class BaseProcessor:
    """Base class of a message processor.

    Override ``process`` at least. Set ``input_model`` to a pydantic model to have the
    message ``content`` validated against it; a failure names the fields and sends the
    message to the dead-letter topic. Any hook may be ``async def``. Example::

        class Summarize(BaseProcessor):
            async def process(self, data, context):
                response = await context.llm.acomplete(f"Summarize: {data}")
                return {"summary": response.text}
    """

    name: ClassVar[str | None] = None
    input_model: ClassVar[type[BaseModel] | None] = None

    @property
    def processor_name(self) -> str:
        """The name written to output metadata and dead-letter headers."""
        return self.name or type(self).__name__

    def validate_message(self, message: Any, context: ProcessingContext) -> Any:
        """Check the parsed message and return it; raise ``MessageValidationError`` if invalid.

        By default validates ``message.content`` against ``input_model`` when one is set.
        """
        if self.input_model is None:
            return message
        if isinstance(message, InputMessage):
            message.content = validate_model(
                self.input_model, message.content, "message content"
            )
            return message
        return validate_model(self.input_model, message, "message")

    def preprocess(self, message: Any, context: ProcessingContext) -> Any:
        """Return the data ``process`` receives: the message content by default."""
        return message.content if isinstance(message, InputMessage) else message

    def process(self, data: Any, context: ProcessingContext) -> Any:
        """Do the work, usually one or more LLM calls, and return a JSON-serializable result."""
        raise NotImplementedError(f"{type(self).__name__} must implement process()")

    def postprocess(self, result: Any, context: ProcessingContext) -> Any:
        """Return the final result written to the output record; ``result`` unchanged by default."""
        return result
