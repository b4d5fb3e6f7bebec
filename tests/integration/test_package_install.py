"""Build the sdist and wheel, install the wheel into a fresh virtual environment, and run an example.

This is the path a user takes after ``pip install llm-kafka``: the example imports the
installed package, not this checkout. Installing the wheel's dependencies reads the package
index that pip is configured with (or its cache); the first run takes a minute or two.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.docs_code import REPO_ROOT

pytestmark = [pytest.mark.kafka, pytest.mark.package]

VERSION = "0.1.0"


def run(command: list[str], timeout_s: float, **options: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False, **options)  # type: ignore[call-overload]
    assert result.returncode == 0, (
        f"{' '.join(command)} failed with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def distributions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out_dir = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out_dir), str(REPO_ROOT)], timeout_s=600)
    return {
        "wheel": out_dir / f"llm_kafka-{VERSION}-py3-none-any.whl",
        "sdist": out_dir / f"llm_kafka-{VERSION}.tar.gz",
    }


def test_wheel_contains_package_data_only(distributions: dict[str, Path]) -> None:
    names = zipfile.ZipFile(distributions["wheel"]).namelist()

    assert "llm_kafka/py.typed" in names
    assert "llm_kafka/testing/kafka/pom.xml" in names
    assert "llm_kafka/testing/llm_server/__main__.py" in names
    assert not [name for name in names if name.startswith(("tests/", "examples/", "docs/"))]


def test_sdist_contains_sources_and_metadata(distributions: dict[str, Path]) -> None:
    with tarfile.open(distributions["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}

    for required in ("pyproject.toml", "README.md", "LICENSE", "llm_kafka/py.typed", "llm_kafka/testing/kafka/pom.xml"):
        assert required in names, f"{required} missing from the sdist"


def test_installed_wheel_runs_example(distributions: dict[str, Path], bootstrap_servers: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], timeout_s=120)
    python = str(venv / "bin" / "python")
    run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(distributions["wheel"])],
        timeout_s=900,
    )

    application = tmp_path / "application"
    (application / "examples").mkdir(parents=True)
    for name in ("__init__.py", "_support.py"):
        shutil.copy(REPO_ROOT / "examples" / name, application / "examples" / name)
    shutil.copytree(REPO_ROOT / "examples" / "summarize", application / "examples" / "summarize")
    environment = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "OPENAI_API_KEY"}}
    environment["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap_servers

    location = run([python, "-c", "import llm_kafka; print(llm_kafka.__file__)"], 60, cwd=application, env=environment)
    result = run([python, "-m", "examples.summarize"], 300, cwd=application, env=environment)

    assert Path(location.stdout.strip()).is_relative_to(venv)
    printed_ids = sorted(line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("doc-"))
    assert printed_ids == ["doc-1", "doc-2", "doc-3"]
