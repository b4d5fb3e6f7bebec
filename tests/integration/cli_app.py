"""Targets for ``llm-kafka run`` and the replay tests, importable as ``tests.integration.cli_app``."""

from __future__ import annotations

from typing import Any

from llm_kafka import BaseProcessor, ProcessingContext


class Upper(BaseProcessor):
    """Returns the content in upper case."""

    name = "upper"

    def process(self, data: Any, context: ProcessingContext) -> Any:
        return {"upper": str(data).upper()}


class FixableProcessor(BaseProcessor):
    """Fails on the content ``needs-fix`` until ``fixed`` is set, like a bug fixed by a deploy."""

    name = "fixable"
    fixed = False

    def process(self, data: Any, context: ProcessingContext) -> Any:
        if data == "needs-fix" and not type(self).fixed:
            raise ValueError("content needs-fix hit the bug")
        return {"done": data}


def make_upper() -> Upper:
    return Upper()
