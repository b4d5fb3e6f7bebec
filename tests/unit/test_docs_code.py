"""Run every code block in README.md and docs/ (see tests/docs_code.py for the convention).

Pages are found when the tests are collected, so a new page is tested without changes here.
Pages marked ``<!-- docs-test: kafka -->`` run in tests/integration/test_docs_code_kafka.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs_code import (
    PYTHON_LANGUAGES,
    REPO_ROOT,
    SHELL_LANGUAGES,
    check_data_block,
    check_shell_block,
    check_snippet,
    code_blocks,
    documentation_pages,
    needs_kafka,
    run_python_blocks,
    sandbox_environment,
)

PAGES = documentation_pages()


def page_id(page: Path) -> str:
    return str(page.relative_to(REPO_ROOT))


@pytest.mark.parametrize("page", [page for page in PAGES if not needs_kafka(page)], ids=page_id)
def test_python_blocks_run(page: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in sandbox_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    run_python_blocks(page)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_other_blocks_valid(page: Path) -> None:
    for block in code_blocks(page):
        snippets = block.snippet_paths() if block.language in PYTHON_LANGUAGES else None
        for path in snippets or []:
            check_snippet(block, path)
        if block.language in SHELL_LANGUAGES:
            check_shell_block(block)
        check_data_block(block)


def test_every_example_has_readme_and_test() -> None:
    tests_text = "\n".join(path.read_text(encoding="utf-8") for path in (REPO_ROOT / "tests").rglob("test_*.py"))
    examples = [path.parent for path in (REPO_ROOT / "examples").glob("*/__init__.py")]

    assert examples, "no example packages found under examples/"
    for example in examples:
        assert (example / "README.md").is_file(), f"{example.name} has no README.md"
        assert f"examples.{example.name}" in tests_text, f"no test imports examples.{example.name}"


def test_parser_finds_indented_and_tilde_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n- item\n\n    ```python\n    x = 1\n      y = 2\n    ```\n\n~~~~toml\na = 1\n~~~~\n",
        encoding="utf-8",
    )

    blocks = list(code_blocks(page))

    assert [(block.language, block.line) for block in blocks] == [("python", 6), ("toml", 11)]
    assert blocks[0].code == "x = 1\n  y = 2\n"
    assert blocks[1].code == "a = 1\n"


def test_parser_rejects_unclosed_fence(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n", encoding="utf-8")

    with pytest.raises(ValueError, match="never closed"):
        list(code_blocks(page))


def test_failing_block_names_page_and_line(tmp_path: Path) -> None:
    page = tmp_path / "probe.md"
    page.write_text("# Probe\n\n```python\nx = 1\nraise RuntimeError(x)\n```\n", encoding="utf-8")

    with pytest.raises(RuntimeError) as raised:
        run_python_blocks(page)

    assert str(raised.traceback[-1].path) == f"{page}:4"
    assert raised.traceback[-1].lineno == 1


def test_kafka_marker_counts_only_alone_on_line(tmp_path: Path) -> None:
    marked = tmp_path / "marked.md"
    marked.write_text("# Page\n\n<!-- docs-test: kafka -->\n", encoding="utf-8")
    mentioned = tmp_path / "mentioned.md"
    mentioned.write_text("Add `<!-- docs-test: kafka -->` to a page that needs a broker.\n", encoding="utf-8")

    assert needs_kafka(marked)
    assert not needs_kafka(mentioned)
