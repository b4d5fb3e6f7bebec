"""Find the fenced code blocks in the docs and README, and run or check each one.

The convention, which ``docs/contributing.md`` explains to writers:

- A ``python`` block is executed. The blocks of one page run in order in one namespace, so a
  later block may use what an earlier one defined. They run with placeholder API keys and
  with the OpenAI and Anthropic base URLs pointed at a closed port on 127.0.0.1, so building
  an ``LLMClient`` works and no request can leave the machine.
- A ``python`` block whose lines are all ``--8<-- "examples/..."`` includes a file under
  ``examples/`` (the pymdownx.snippets extension inlines it when the site is built). It is not
  run here because every example has its own test.
- A page with a line ``<!-- docs-test: kafka -->`` needs a broker: its blocks run in an
  integration test with ``KAFKA_BOOTSTRAP_SERVERS`` set to the test session's broker.
- A ``bash`` block is checked, not run: each ``scripts/...`` it names must exist and be
  executable, and each ``python -m module`` must be importable.
- ``toml`` and ``json`` blocks must parse.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_MARKER = "<!-- docs-test: kafka -->"

PYTHON_LANGUAGES = {"python", "py"}
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}

# Discard port: nothing listens there, so a block that calls a hosted provider fails at once.
CLOSED_LOCAL_URL = "http://127.0.0.1:9"

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_SNIPPET = re.compile(r'^-{1,2}8<-{1,2}\s+"(?P<path>[^"]+)"\s*$')


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: the page, the line of its first code line, its language and code."""

    page: Path
    line: int
    language: str
    code: str

    @property
    def location(self) -> str:
        page = self.page.relative_to(REPO_ROOT) if self.page.is_relative_to(REPO_ROOT) else self.page
        return f"{page}:{self.line}"

    def snippet_paths(self) -> list[str] | None:
        """Return the included paths when every non-blank line is a snippet include, else None."""
        lines = [line.strip() for line in self.code.splitlines() if line.strip()]
        matches = [_SNIPPET.match(line) for line in lines]
        if not lines or not all(matches):
            return None
        # A path may end in ":section" or ":start:end" to include part of the file.
        return [match["path"].split(":", 1)[0] for match in matches if match]


def documentation_pages() -> list[Path]:
    """Return README.md and every Markdown page under docs/, found anew on each test run."""
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]


def needs_kafka(page: Path) -> bool:
    """Return whether a line of the page is the kafka marker alone (a mention inside a sentence does not count)."""
    return any(line.strip() == KAFKA_MARKER for line in page.read_text(encoding="utf-8").splitlines())


def code_blocks(page: Path) -> Iterator[CodeBlock]:
    """Yield the fenced blocks of a Markdown page, with the fence's indentation removed.

    Raises ValueError for a fence that is never closed, because the rest of the page would
    silently count as code.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue

        indent = len(opening["indent"])
        fence = opening["fence"]
        language = opening["info"].split()[0].lower() if opening["info"].strip() else ""
        body: list[str] = []
        start = index + 1
        index += 1
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            same_fence = closing is not None and closing["fence"][0] == fence[0]
            if same_fence and len(closing["fence"]) >= len(fence) and not closing["info"].strip():
                break
            body.append(_dedent(lines[index], indent))
            index += 1
        else:
            raise ValueError(f"{page}:{start}: code fence {fence} is never closed")

        yield CodeBlock(page, start + 1, language, "\n".join(body) + "\n")
        index += 1


def _dedent(line: str, indent: int) -> str:
    """Remove up to ``indent`` leading spaces, the indentation of a fence inside a list item."""
    stripped = line.lstrip(" ")
    return line[min(indent, len(line) - len(stripped)) :]


def sandbox_environment() -> dict[str, str]:
    """Return the environment variables a docs page runs with (see the module docstring)."""
    return {
        "OPENAI_API_KEY": "docs-test-placeholder",
        "ANTHROPIC_API_KEY": "docs-test-placeholder",
        "OPENAI_BASE_URL": f"{CLOSED_LOCAL_URL}/v1",
        "ANTHROPIC_BASE_URL": CLOSED_LOCAL_URL,
    }


def run_python_blocks(page: Path) -> int:
    """Execute the page's python blocks in order in one namespace; return how many ran.

    A failing block raises with its page and line in the traceback's file name.
    """
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    count = 0
    for block in code_blocks(page):
        if block.language not in PYTHON_LANGUAGES or block.snippet_paths() is not None:
            continue
        exec(compile(block.code, block.location, "exec"), namespace)
        count += 1
    return count


def check_snippet(block: CodeBlock, path: str) -> None:
    """Check that an included file exists under examples/, where its example's test runs it."""
    assert block.page.name != "README.md", f"{block.location}: README.md is read outside mkdocs; do not include {path}"
    assert path.startswith("examples/"), f"{block.location}: included file {path} must be under examples/"
    assert (REPO_ROOT / path).is_file(), f"{block.location}: included file {path} not found"


def check_shell_block(block: CodeBlock) -> None:
    """Check that the scripts and ``python -m`` modules a shell block names exist."""
    for raw_line in block.code.splitlines():
        line = raw_line.split("#", 1)[0].strip().removeprefix("$ ")
        if not line:
            continue
        words = shlex.split(line)
        for position, word in enumerate(words):
            if word.startswith("scripts/"):
                script = REPO_ROOT / word
                assert script.is_file(), f"{block.location}: {word} not found"
                assert os.access(script, os.X_OK), f"{block.location}: {word} is not executable"
            if word == "-m" and position > 0 and words[position - 1].split("/")[-1].startswith("python"):
                module = words[position + 1]
                assert importlib.util.find_spec(module) is not None, f"{block.location}: module {module} not found"


def check_data_block(block: CodeBlock) -> None:
    """Parse a toml or json block; raise when it is invalid."""
    if block.language == "toml":
        tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
        tomllib.loads(block.code)
    elif block.language == "json":
        json.loads(block.code)
