"""Processors used by the integration tests."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from llm_kafka import BaseProcessor, ProcessingContext


class EchoProcessor(BaseProcessor):
    """Returns the content reversed; raises for the content ``explode``."""

    name = "echo"

    def process(self, data: Any, context: ProcessingContext) -> Any:
        if data == "explode":
            raise ValueError("the test asked this processor to fail")
        return {"reversed": str(data)[::-1]}


class LLMEchoProcessor(BaseProcessor):
    """Sends the content to the LLM and returns its answer."""

    name = "llm_echo"

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        assert context.llm is not None
        response = await context.llm.acomplete(str(data), max_tokens=64)
        return {"answer": response.text}


class SleepyProcessor(BaseProcessor):
    """Sleeps ``seconds`` for content ``sleep:<seconds>`` (``slow_seconds`` for others) and echoes.

    It records how many calls run at once, so tests can check the in-flight limit.
    """

    name = "sleepy"

    def __init__(self, default_seconds: float = 0.0, max_seconds: float = 3600.0) -> None:
        self.default_seconds = default_seconds
        self.max_seconds = max_seconds
        self.running = 0
        self.most_running = 0

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        text = str(data)
        seconds = float(text.split(":", 1)[1]) if text.startswith("sleep:") else self.default_seconds
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(min(seconds, self.max_seconds))
        finally:
            self.running -= 1
        return {"echo": text}


class TimelineLLMProcessor(BaseProcessor):
    """Calls the LLM like ``LLMEchoProcessor`` and records when each message started and ended."""

    name = "timeline"

    def __init__(self) -> None:
        self.events: dict[str, tuple[float, float]] = {}

    async def process(self, data: Any, context: ProcessingContext) -> Any:
        assert context.llm is not None and context.message_id is not None
        started = time.monotonic()
        try:
            response = await context.llm.acomplete(str(data), max_tokens=16)
        finally:
            self.events[context.message_id] = (started, time.monotonic())
        return {"answer": response.text}
