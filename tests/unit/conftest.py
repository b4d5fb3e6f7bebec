"""Fixtures for unit tests that call the local LLM server through the official SDKs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llm_kafka.testing.llm_server import FaultSettings, LocalLLMServer


@pytest.fixture(scope="module")
def llm_server() -> Iterator[LocalLLMServer]:
    """A local LLM server shared by one test module; `clean_llm_server` resets it per test."""
    with LocalLLMServer() as running:
        yield running


@pytest.fixture
def server(llm_server: LocalLLMServer) -> LocalLLMServer:
    """The module's local LLM server with default fault settings and zeroed counters."""
    llm_server.replace_settings(FaultSettings())
    llm_server.reset()
    return llm_server
