"""Message handler: hooks run in order, sync or async, and failures name the hook."""

import asyncio
import json
import threading
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


class CountingExecutor(ThreadPoolExecutor):
    """A thread pool that counts the calls submitted to it."""

    def __init__(self) -> None:
        super().__init__(2)
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def handle_counting(processor: BaseProcessor, value: bytes) -> tuple[Any, int]:
    with CountingExecutor() as executor:
        handler = MessageHandler(ProcessorRouter({}, processor), MessageFormat(), executor)
        outcome = asyncio.run(handler.handle(RECORD, value))
        return outcome, executor.submitted


class AllPlain(BaseProcessor):
    """Overrides every hook with a plain method and records the thread each one ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.seen_message: Any = None

    def validate_message(self, message: Any, context: ProcessingContext) -> Any:
        self.threads.append(threading.current_thread().name)
        message.content = message.content.strip()
        return message

    def preprocess(self, message: Any, context: ProcessingContext) -> Any:
        self.threads.append(threading.current_thread().name)
        self.seen_message = context.message
        return message.content + "!"

    def process(self, data: Any, context: ProcessingContext) -> Any:
        self.threads.append(threading.current_thread().name)
        return {"upper": data.upper()}

    def postprocess(self, result: Any, context: ProcessingContext) -> Any:
        self.threads.append(threading.current_thread().name)
        return {**result, "post": True}


def test_plain_hooks_share_one_thread_hop() -> None:
    processor = AllPlain()

    outcome, submitted = handle_counting(processor, b'{"id": "1", "content": " abc "}')

    assert isinstance(outcome, Success)
    assert json.loads(outcome.value)["result"] == {"upper": "ABC!", "post": True}
    assert submitted == 1
    assert len(set(processor.threads)) == 1
    assert processor.threads[0] != threading.current_thread().name


def test_context_message_is_validated_message_in_chain() -> None:
    processor = AllPlain()

    outcome, _ = handle_counting(processor, b'{"id": "1", "content": " abc "}')

    assert isinstance(outcome, Success)
    assert processor.seen_message is not None
    assert processor.seen_message.content == "abc"
    assert json.loads(outcome.value)["original"] == "abc"


def test_base_hooks_of_async_processor_use_no_thread() -> None:
    outcome, submitted = handle_counting(AsyncUpper(), b'{"id": "1", "content": "abc"}')

    assert isinstance(outcome, Success)
    assert submitted == 0


def test_plain_process_alone_takes_one_thread_hop() -> None:
    outcome, submitted = handle_counting(Upper(), b'{"id": "1", "content": "abc"}')

    assert isinstance(outcome, Success)
    assert submitted == 1


class Mixed(BaseProcessor):
    """Plain validate_message, async preprocess, plain process and postprocess."""

    def validate_message(self, message: Any, context: ProcessingContext) -> Any:
        return message

    async def preprocess(self, message: Any, context: ProcessingContext) -> Any:
        return message.content

    def process(self, data: Any, context: ProcessingContext) -> Any:
        return {"value": data}

    def postprocess(self, result: Any, context: ProcessingContext) -> Any:
        return {**result, "post": True}


def test_async_hook_splits_plain_hooks_into_two_hops() -> None:
    outcome, submitted = handle_counting(Mixed(), b'{"id": "1", "content": "abc"}')

    assert isinstance(outcome, Success)
    assert json.loads(outcome.value)["result"] == {"value": "abc", "post": True}
    assert submitted == 2


class ReturnsCoroutine(BaseProcessor):
    """A plain process that returns a coroutine, followed by a plain postprocess."""

    def process(self, data: Any, context: ProcessingContext) -> Any:
        async def answer() -> Any:
            await asyncio.sleep(0)
            return {"answer": data}

        return answer()

    def postprocess(self, result: Any, context: ProcessingContext) -> Any:
        return {**result, "post": True}


def test_plain_hook_returning_coroutine_is_awaited() -> None:
    outcome, submitted = handle_counting(ReturnsCoroutine(), b'{"id": "1", "content": "abc"}')

    assert isinstance(outcome, Success)
    assert json.loads(outcome.value)["result"] == {"answer": "abc", "post": True}
    assert submitted == 2


class FailsInPreprocess(AllPlain):
    def preprocess(self, message: Any, context: ProcessingContext) -> Any:
        raise KeyError("missing field")


def test_failure_inside_chain_names_hook() -> None:
    outcome, _ = handle_counting(FailsInPreprocess(), b'{"id": "1", "content": "abc"}')

    assert isinstance(outcome, Failure)
    assert outcome.hook == "preprocess"
    assert outcome.error_type == "KeyError"


class ValidatingAsync(BaseProcessor):
    input_model = Review

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        return {"stars": data.stars}


def test_base_validation_runs_inline_and_names_hook() -> None:
    outcome, submitted = handle_counting(ValidatingAsync(), b'{"id": "9", "content": {"text": "ok", "stars": "x"}}')

    assert isinstance(outcome, Failure)
    assert outcome.hook == "validate_message"
    assert isinstance(outcome.error, MessageValidationError)
    assert submitted == 0
