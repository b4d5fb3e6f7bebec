"""The getting-started example (examples/summarize) on the real broker and the local LLM server."""

from __future__ import annotations

import pytest

from examples.summarize.__main__ import DOCUMENTS, main
from llm_kafka.testing.llm_server import expected_chat_answer

pytestmark = pytest.mark.kafka


def test_summarize_main_prints_summaries(
    bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    assert main() == 0

    printed = capsys.readouterr().out
    for document in DOCUMENTS:
        summary = expected_chat_answer(f"Summarize in one sentence:\n{document['content']}")
        assert f"{document['id']}: {summary}" in printed
