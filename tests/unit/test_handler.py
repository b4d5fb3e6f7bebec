"""Message handler: hooks run in order, sync or async, and failures name the hook."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import BaseModel

from llm_kafka.engine.handler import Failure, MessageHandler, ProcessorRouter, Success
from llm_kafka.errors import DeserializationError, MessageValidationError
from llm_kafka.messages import MessageFormat
from llm_kafka.processor import BaseProcessor, ProcessingContext, RecordInfo

RECORD = RecordInfo(topic="in", partition=0, offset=3)


class Upper(BaseProcessor):
    def process(self, data: Any, context: ProcessingContext) -> Any:
        return {"upper": data.upper()}


class AsyncUpper(BaseProcessor):
    async def preprocess(self, message: Any, context: ProcessingContext) -> Any:
        return message.content + "!"

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        await asyncio.sleep(0)
        return {"upper": data.upper()}


class Review(BaseModel):
    text: str
    stars: int


class Validating(BaseProcessor):
    input_model = Review

    def process(self, data: Any, context: ProcessingContext) -> Any:
        return {"stars": data.stars}


class Broken(BaseProcessor):
    def postprocess(self, result: Any, context: ProcessingContext) -> Any:
        raise RuntimeError("postprocess bug")

    def process(self, data: Any, context: ProcessingContext) -> Any:
        return data


def handle(
    processors: dict[str, BaseProcessor],
    value: bytes | None,
    default: BaseProcessor | None = None,
) -> Any:
    with ThreadPoolExecutor(2) as executor:
        handler = MessageHandler(ProcessorRouter(processors, default), MessageFormat(), executor)
        return asyncio.run(handler.handle(RECORD, value))


def test_sync_processor_produces_output_envelope() -> None:
    outcome = handle({}, b'{"id": "1", "content": "abc"}', default=Upper())

    assert isinstance(outcome, Success)
    output = json.loads(outcome.value)
    assert output["id"] == "1"
    assert output["original"] == "abc"
    assert output["result"] == {"upper": "ABC"}
    assert output["metadata"]["processor"] == "Upper"
    assert output["metadata"]["processing_time_ms"] >= 0


def test_async_hooks_run_on_event_loop() -> None:
    outcome = handle({"shout": AsyncUpper()}, b'{"id": "1", "type": "shout", "content": "abc"}')

    assert isinstance(outcome, Success)
    assert json.loads(outcome.value)["result"] == {"upper": "ABC!"}


def test_message_routes_by_type() -> None:
    outcome = handle(
        {"shout": AsyncUpper()},
        b'{"id": "1", "type": "shout", "content": "x"}',
        default=Upper(),
    )

    assert json.loads(outcome.value)["metadata"]["processor"] == "AsyncUpper"


def test_unknown_type_without_default_fails() -> None:
    outcome = handle({"shout": AsyncUpper()}, b'{"id": "1", "type": "other", "content": "x"}')

    assert isinstance(outcome, Failure)
    assert "no processor for message type 'other'" in str(outcome.error)


def test_bad_bytes_fail_in_parse() -> None:
    outcome = handle({}, b"\xff", default=Upper())

    assert isinstance(outcome, Failure)
    assert isinstance(outcome.error, DeserializationError)
    assert outcome.hook == "parse"


def test_input_model_failure_names_fields() -> None:
    outcome = handle(
        {},
        b'{"id": "9", "content": {"text": "ok", "stars": "many"}}',
        default=Validating(),
    )

    assert isinstance(outcome, Failure)
    assert isinstance(outcome.error, MessageValidationError)
    assert outcome.error.fields == ("stars",)
    assert outcome.message_id == "9"


def test_processor_exception_names_hook() -> None:
    outcome = handle({}, b'{"id": "1", "content": "x"}', default=Broken())

    assert isinstance(outcome, Failure)
    assert outcome.hook == "postprocess"
    assert outcome.error_type == "RuntimeError"
    assert outcome.processor == "Broken"


def test_router_requires_a_processor() -> None:
    with pytest.raises(ValueError):
        ProcessorRouter({}, None)


def test_missing_type_without_default_explains_fix() -> None:
    outcome = handle({"shout": AsyncUpper()}, b'{"id": "1", "content": "x"}')

    assert isinstance(outcome, Failure)
    assert "message has no type" in str(outcome.error)
    assert "shout" in str(outcome.error)
