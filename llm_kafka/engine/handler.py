"""``MessageHandler``: one record through parsing, routing and the four processor hooks.

It turns every exception into a ``Failure`` that names the error, the hook and the attempt
count, so the caller sends the record to the dead-letter topic and goes on. Async hooks run
on the event loop that awaits ``handle``; plain hooks run on the given thread pool so they
never block that loop. Consecutive plain hooks share one trip to the pool, and the hooks
``BaseProcessor`` itself defines (no I/O, at most a pydantic validation) run on the loop,
because each trip costs a thread switch and two event-loop wake-ups per message.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import inspect
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from llm_kafka.errors import LLMProviderError, ProcessingError, is_provider_wide
from llm_kafka.messages import DEFAULT_MESSAGE_TYPE, MessageFormat, encode_json
from llm_kafka.observability.tracing import MessageTracer, record_outcome, trace_headers
from llm_kafka.processor import BaseProcessor, ProcessingContext, RecordInfo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Success:
    """The record was processed; ``value`` is the encoded output record.

    ``topic`` overrides the pipeline's output topic when a hook chose one; ``headers`` are
    added to the output record (tracing context, for example).
    """

    value: bytes
    processor: str
    message_id: str | None
    topic: str | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Failure:
    """The record failed; it goes to the dead-letter topic with these details."""

    error: BaseException
    processor: str
    message_id: str | None
    hook: str
    attempts: int
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def error_type(self) -> str:
        """The class name of the error, as written to the dead-letter headers."""
        return type(self.error).__name__

    @property
    def raw_output(self) -> str | None:
        """The model output that failed validation, when there is one."""
        raw_output = getattr(self.error, "raw_output", None)
        return raw_output if isinstance(raw_output, str) else None


Outcome = Success | Failure

# A scope wraps one message's hooks (the LLM usage tracker and deadline, for example) and
# yields a function that returns metadata to add to the output once the hooks finished.
ScopeMetadata = Callable[[], Mapping[str, Any]]
MessageScope = Callable[[], AbstractContextManager[ScopeMetadata]]


@contextmanager
def _no_scope() -> Iterator[ScopeMetadata]:
    yield dict


class ProcessorRouter:
    """Selects the processor for a message's route, falling back to a default."""

    def __init__(self, routes: Mapping[str, BaseProcessor], default: BaseProcessor | None) -> None:
        if not routes and default is None:
            raise ValueError("a pipeline needs at least one processor")
        self.routes = dict(routes)
        self.default = default

    def select(self, route: str) -> BaseProcessor:
        """Return the processor for ``route``; raise ``ProcessingError`` if there is none."""
        processor = self.routes.get(route, self.default)
        if processor is None and route == DEFAULT_MESSAGE_TYPE:
            raise ProcessingError(
                f"message has no type and the pipeline has no default processor; set its type to one of: "
                f"{', '.join(sorted(self.routes))}"
            )
        if processor is None:
            raise ProcessingError(
                f"no processor for message type {route!r}; known types: {', '.join(sorted(self.routes))}"
            )
        return processor


class _Progress:
    """The hook a message is in; written by whichever thread runs the hook."""

    hook = "validate_message"


_HOOK_NAMES = ("validate_message", "preprocess", "process", "postprocess")


def _is_base_hook(hook: Callable[..., Any]) -> bool:
    """Return True if ``hook`` is ``BaseProcessor``'s own method, not an override."""
    function = getattr(hook, "__func__", None)
    return function is not None and function is getattr(BaseProcessor, getattr(hook, "__name__", ""), None)


class MessageHandler:
    """Runs one record through the pipeline's steps and returns its ``Outcome``.

    ``handle`` never raises for a bad record or a failing hook; only cancellation propagates.
    Each record gets one processing span from ``tracer`` (see ``MessageTracer``), current
    while the hooks run, and the outcome's ``headers`` carry that span's trace context.
    """

    def __init__(
        self,
        router: ProcessorRouter,
        message_format: MessageFormat[Any],
        executor: Executor,
        llm: Any = None,
        scope: MessageScope | None = None,
        tracer: MessageTracer | None = None,
    ) -> None:
        self._router = router
        self._format = message_format
        self._executor = executor
        self._llm = llm
        self._scope = scope or _no_scope
        self._tracer = tracer or MessageTracer()

    async def handle(self, record: RecordInfo, value: bytes | None) -> Outcome:
        """Process one record; return ``Success`` with the output bytes or ``Failure``.

        The hooks run inside ``scope``, whose metadata (LLM usage, for example) is added to
        the output's metadata, and inside the record's processing span.
        """
        with self._tracer.process_span(record) as span:
            with self._scope() as scope_metadata:
                outcome = await self._handle(record, value, scope_metadata)
            error = outcome.error if isinstance(outcome, Failure) else None
            record_outcome(span, processor=outcome.processor, message_id=outcome.message_id, error=error)
            return dataclasses.replace(outcome, headers=(*outcome.headers, *trace_headers()))

    async def _handle(self, record: RecordInfo, value: bytes | None, scope_metadata: ScopeMetadata) -> Outcome:
        started = time.perf_counter()
        context = ProcessingContext(record=record, processor="-", llm=self._llm)
        hook = "parse"
        try:
            message = self._format.parse(value)
            context.message_id = self._format.message_id(message)

            hook = "route"
            processor = self._router.select(self._format.route(message))
            context.processor = processor.processor_name

            progress = _Progress()
            try:
                result = await self._run_hooks(processor, message, context, progress)
            finally:
                hook = progress.hook
            message = context.message

            hook = "encode"
            metadata: dict[str, Any] = {
                "processing_time_ms": round((time.perf_counter() - started) * 1000, 3),
                "processor": context.processor,
            }
            metadata.update(scope_metadata())
            output = encode_json(self._format.build_output(message, result, metadata))
        except Exception as error:  # every failure becomes a dead-letter record or a deferral
            attempts = error.attempts if isinstance(error, LLMProviderError) else 1
            # A provider-wide failure is not the message's fault, so the engine retries it later.
            next_step = (
                "it waits for the provider" if is_provider_wide(error) else "sending it to the dead-letter topic"
            )
            logger.warning(
                "message failed in %s (%s: %s); %s: %s",
                hook,
                type(error).__name__,
                error,
                next_step,
                record.describe(context.message_id),
            )
            return Failure(error, context.processor, context.message_id, hook, attempts)
        return Success(output, context.processor, context.message_id, topic=context.output_topic)

    async def _run_hooks(
        self, processor: BaseProcessor, message: Any, context: ProcessingContext, progress: _Progress
    ) -> Any:
        """Run the four hooks in order and return ``postprocess``'s result.

        ``progress.hook`` names the hook running now, so a failure names the right one.
        Consecutive plain hooks run in one trip to the thread pool (see ``_run_plain``).
        """
        steps = [(name, getattr(processor, name)) for name in _HOOK_NAMES]
        value = message
        index = 0
        while index < len(steps):
            name, hook = steps[index]
            progress.hook = name
            if inspect.iscoroutinefunction(hook):
                value = await hook(value, context)
                index += 1
            elif _is_base_hook(hook):
                value = hook(value, context)
                index += 1
            else:
                end = index
                while end < len(steps) and not inspect.iscoroutinefunction(steps[end][1]):
                    end += 1
                # Copy the context so that context variables (tracing) set by the caller cross to the thread.
                call = functools.partial(
                    contextvars.copy_context().run, _run_plain, steps[index:end], value, context, progress
                )
                value, done = await asyncio.get_running_loop().run_in_executor(self._executor, call)
                index += done

            if inspect.isawaitable(value):
                value = await value  # a plain hook returned a coroutine: the loop finishes it
            if index == 1:
                context.message = value  # validate_message just finished
        return value


def _run_plain(
    steps: list[tuple[str, Callable[[Any, ProcessingContext], Any]]],
    value: Any,
    context: ProcessingContext,
    progress: _Progress,
) -> tuple[Any, int]:
    """Run plain hooks in order on the calling thread; return the last value and how many ran.

    Stops after a hook that returns an awaitable, which the caller awaits on the event loop.
    """
    for count, (name, hook) in enumerate(steps, start=1):
        progress.hook = name
        value = hook(value, context)
        if inspect.isawaitable(value):
            return value, count
        if name == "validate_message":
            context.message = value
    return value, len(steps)
