"""Run the code blocks of docs pages marked ``<!-- docs-test: kafka -->`` against the session broker.

The convention is described in tests/docs_code.py and docs/contributing.md.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_code import REPO_ROOT, documentation_pages, needs_kafka, run_python_blocks, sandbox_environment

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize(
    "page",
    [page for page in documentation_pages() if needs_kafka(page)],
    ids=lambda page: str(page.relative_to(REPO_ROOT)),
)
def test_kafka_page_blocks_run(
    page: Path, bootstrap_servers: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in sandbox_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.chdir(tmp_path)

    assert run_python_blocks(page) > 0
