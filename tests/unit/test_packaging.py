"""Package metadata: supported Python versions, extras, and the files the wheel must ship."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPPORTED = ["3.10", "3.11", "3.12"]


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    with (REPO_ROOT / "pyproject.toml").open("rb") as file:
        return dict(tomllib.load(file)["project"])


def test_classifiers_list_supported_versions(project: dict[str, Any]) -> None:
    listed = [
        match[1]
        for classifier in project["classifiers"]
        if (match := re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier))
    ]

    assert listed == SUPPORTED
    assert project["requires-python"] == f">={SUPPORTED[0]}"


def test_running_python_is_supported() -> None:
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in SUPPORTED


def test_docs_state_supported_versions() -> None:
    text = (REPO_ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")

    assert "Python 3.10, 3.11 and 3.12" in text


def test_opentelemetry_sdk_is_optional(project: dict[str, Any]) -> None:
    required = [dependency.split(">")[0] for dependency in project["dependencies"]]

    assert "opentelemetry-sdk" not in required
    assert any(extra.startswith("opentelemetry-sdk") for extra in project["optional-dependencies"]["otel"])


def test_package_ships_typing_marker() -> None:
    assert (REPO_ROOT / "llm_kafka" / "py.typed").is_file()
