"""Processors used by the integration tests."""

from __future__ import annotations

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
