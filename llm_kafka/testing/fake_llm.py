"""A scripted LLM provider, registered as ``fake``, for tests of processors and failure handling.

``FakeLLM`` contains the script: a list of steps taken one per call, or a function of the
request. A step is a reply (text, a JSON object, ``Reply`` or ``LLMResponse``) or a fault
(``RateLimited``, ``TimedOut``, ``Overloaded``, ``ServerError``, ``Malformed`` or any
exception). Latency and timeouts wait on the script's clock, so with a ``FakeClock`` they
cost no real time. The provider raises the same error types as the built-in providers.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llm_kafka.errors import LLMProviderError, ProviderTimeoutError, RateLimitError
from llm_kafka.llm.client import LLMClient
from llm_kafka.llm.hookspecs import hookimpl
from llm_kafka.llm.providers.base import ProviderSettings
from llm_kafka.llm.providers.sdk_common import error_for_status
from llm_kafka.llm.registry import ProviderRegistry, default_registry
from llm_kafka.llm.types import LLMRequest, LLMResponse, Usage
from llm_kafka.testing.clock import FakeClock, SystemClock
from llm_kafka.testing.llm_server import (
    estimate_tokens,
    expected_chat_answer,
    generate_from_schema,
)

PROVIDER_NAME = "fake"
SCRIPT_OPTION = "script"
"""The ``provider_options`` key under which ``LLMClient`` passes the ``FakeLLM`` to the provider."""


@dataclass(frozen=True)
class Reply:
    """A successful answer: ``content`` is text, or a JSON-serializable value sent as JSON text.

    ``latency_s`` is waited on the script's clock before the answer returns.
    """

    content: Any
    latency_s: float = 0.0
    finish_reason: str = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class RateLimited:
    """HTTP 429: raises ``RateLimitError`` with ``retry_after`` seconds (None sends no header)."""

    retry_after: float | None = 1.0

    def error(self, request: LLMRequest) -> LLMProviderError:
        return RateLimitError(
            f"fake model {request.model!r} returned HTTP 429: rate limit reached",
            retry_after=self.retry_after,
            provider=PROVIDER_NAME,
            model=request.model,
            status_code=429,
        )


@dataclass(frozen=True)
class TimedOut:
    """Waits ``after_s`` seconds on the script's clock, then raises ``ProviderTimeoutError``."""

    after_s: float = 0.0

    def error(self, request: LLMRequest) -> LLMProviderError:
        return ProviderTimeoutError(
            f"fake call timed out after {self.after_s}s", provider=PROVIDER_NAME, model=request.model
        )


@dataclass(frozen=True)
class ServerError:
    """An HTTP error ``status``, typed as the built-in providers type it (5xx: ``ProviderServerError``)."""

    status: int = 500
    message: str = "internal server error"

    def error(self, request: LLMRequest) -> LLMProviderError:
        return error_for_status(self.status, self.message, headers=None, provider=PROVIDER_NAME, model=request.model)


@dataclass(frozen=True)
class Overloaded(ServerError):
    """Anthropic's HTTP 529: raises ``ProviderOverloadedError``."""

    status: int = 529
    message: str = "overloaded"


@dataclass(frozen=True)
class Malformed:
    """An answer whose text is not valid for the request, such as cut-off JSON."""

    text: str = '{"result": "cut off'


Fault = RateLimited | TimedOut | ServerError
Step = str | Mapping[str, Any] | Sequence[Any] | Reply | Malformed | Fault | LLMResponse | BaseException
Responder = Callable[[LLMRequest], Step]


class ScriptExhaustedError(RuntimeError):
    """Raised when a ``FakeLLM`` list has no step left for a call and no ``then`` was given."""


def prompt_of(request: LLMRequest) -> str:
    """Return the text of the request's last message, the prompt a script usually looks at."""
    return request.messages[-1].content if request.messages else ""


def default_answer(request: LLMRequest) -> Step:
    """Answer as the local LLM server does: a fixed text, or a value that fits the schema."""
    if request.json_schema is not None:
        return Reply(generate_from_schema(request.json_schema, prompt_of(request)))
    return expected_chat_answer(prompt_of(request))


class FakeLLM:
    """The script of a fake model, and the record of the requests it received. Thread-safe.

    ``responses`` is a list of steps, used one per call in order (then ``then`` answers,
    or ``ScriptExhaustedError`` is raised), or a function from ``LLMRequest`` to a step.
    Without ``responses`` every call gets ``default_answer``. Example::

        fake = FakeLLM([RateLimited(retry_after=2), {"label": "positive"}])
        client = fake.client()
        client.structured("Rate: great", Label)  # retried once, then Label(label="positive")
    """

    def __init__(
        self,
        responses: Iterable[Step] | Responder | None = None,
        *,
        then: Responder | None = None,
        clock: FakeClock | SystemClock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._responder: Responder | None = None
        self._steps: list[Step] | None = None
        self._then: Responder | None = None
        self.set_responses(responses, then=then)
        self.requests: list[LLMRequest] = []
        """Every request received, in call order."""

    def set_responses(self, responses: Iterable[Step] | Responder | None, *, then: Responder | None = None) -> None:
        """Replace the script; the recorded requests are kept."""
        with self._lock:
            self._responder = responses if callable(responses) else None
            self._steps = None if responses is None or callable(responses) else list(responses)
            self._then = then

    @property
    def calls(self) -> int:
        """The number of requests received."""
        with self._lock:
            return len(self.requests)

    def prompts(self) -> list[str]:
        """Return the prompt (last message text) of every request received."""
        with self._lock:
            return [prompt_of(request) for request in self.requests]

    def client(self, model: str = "fake-model", **options: Any) -> LLMClient:
        """Return an ``LLMClient`` that calls this script; ``options`` go to ``LLMClient``.

        The client waits on this script's clock unless ``options`` name another one, so with a
        ``FakeClock`` its retries, rate-limit waits and breaker periods cost no real time.
        """
        options.setdefault("clock", self.clock)
        provider_options = {**options.pop("provider_options", {}), SCRIPT_OPTION: self}
        return LLMClient(PROVIDER_NAME, model, provider_options=provider_options, **options)

    def next_step(self, request: LLMRequest) -> Step:
        """Record ``request`` and return the step that answers it."""
        with self._lock:
            self.requests.append(request)
            call = len(self.requests)
            if self._responder is not None:
                responder = self._responder
            elif self._steps is None:
                responder = default_answer
            elif self._steps:
                return self._steps.pop(0)
            elif self._then is not None:
                responder = self._then
            else:
                raise ScriptExhaustedError(
                    f"FakeLLM has no response left for call {call} (prompt {prompt_of(request)!r}); "
                    f"add responses, or pass then= to answer the calls after the list"
                )
        return responder(request)


class FakeProvider:
    """The ``fake`` provider: responds from the ``FakeLLM`` in ``provider_options["script"]``."""

    name = PROVIDER_NAME

    def __init__(self, settings: ProviderSettings) -> None:
        script = settings.options.get(SCRIPT_OPTION)
        if script is not None and not isinstance(script, FakeLLM):
            raise TypeError(f"provider_options[{SCRIPT_OPTION!r}] must be a FakeLLM, got {type(script).__name__}")
        self.script = script or FakeLLM()

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer ``request`` from the script, waiting with the clock's ``sleep``."""
        step = self.script.next_step(request)
        wait = _wait_of(step)
        if wait > 0:
            self.script.clock.sleep(wait)
        return _answer(step, request)

    async def acomplete(self, request: LLMRequest) -> LLMResponse:
        """Answer ``request`` from the script, waiting with the clock's ``asleep``."""
        step = self.script.next_step(request)
        wait = _wait_of(step)
        if wait > 0:
            await self.script.clock.asleep(wait)
        return _answer(step, request)


def _wait_of(step: Step) -> float:
    if isinstance(step, Reply):
        return step.latency_s
    if isinstance(step, TimedOut):
        return step.after_s
    return 0.0


def _answer(step: Step, request: LLMRequest) -> LLMResponse:
    if isinstance(step, BaseException):
        raise step
    if isinstance(step, (RateLimited, TimedOut, ServerError)):
        raise step.error(request)
    if isinstance(step, LLMResponse):
        return step

    if isinstance(step, Malformed):
        reply = Reply(step.text)
    elif isinstance(step, Reply):
        reply = step
    else:
        reply = Reply(step)
    text = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    usage = Usage(
        input_tokens=reply.input_tokens if reply.input_tokens is not None else _prompt_tokens(request),
        output_tokens=reply.output_tokens if reply.output_tokens is not None else estimate_tokens(text),
    )
    return LLMResponse(
        text=text, model=request.model, provider=PROVIDER_NAME, usage=usage, finish_reason=reply.finish_reason
    )


def _prompt_tokens(request: LLMRequest) -> int:
    texts = [message.content for message in request.messages]
    if request.system:
        texts.append(request.system)
    return sum(estimate_tokens(text) for text in texts)


@hookimpl
def register_providers(register: Callable[[str, Any], None]) -> None:
    """Register ``FakeProvider`` as ``fake``; loaded through the ``llm_kafka.providers`` entry point."""
    register(PROVIDER_NAME, FakeProvider)


def register_fake_provider(registry: ProviderRegistry | None = None) -> None:
    """Register the ``fake`` provider in ``registry`` (the default one if None) unless it is there.

    Needed only when entry points are not loaded, for example with ``LLM_KAFKA_PLUGINS`` set.
    """
    target = registry or default_registry()
    if PROVIDER_NAME not in target.names():
        target.register_plugin(sys.modules[__name__], name=__name__)
