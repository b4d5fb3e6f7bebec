"""Provider plugins loaded from installed distributions through the ``llm_kafka.providers`` group.

Each test writes a small distribution into a temporary site directory: the package and the
``.dist-info`` directory that an installer writes (METADATA, entry_points.txt, RECORD), then
puts the directory on ``sys.path``, where ``importlib.metadata`` finds it like any
installed package.
"""

from __future__ import annotations

import importlib
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_kafka import LLMClient
from llm_kafka.llm.registry import PLUGINS_ENV, ProviderRegistry

ECHO_PLUGIN = """
from llm_kafka.llm import hookimpl
from llm_kafka.llm.types import LLMResponse, Usage


class EchoProvider:
    name = "echo"

    def __init__(self, settings):
        self.settings = settings

    def complete(self, request):
        text = request.messages[-1].content.upper()
        return LLMResponse(text=text, model=request.model, provider=self.name, usage=Usage(3, 5))

    async def acomplete(self, request):
        return self.complete(request)


@hookimpl
def register_providers(register):
    register("echo", EchoProvider)
"""

BROKEN_PLUGIN = """
raise ImportError("llm_kafka_broken needs a library that is not installed")
"""


def install_distribution(site: Path, name: str, version: str, package: str, plugin_source: str) -> None:
    """Write package ``package`` and its dist-info into ``site``, as an installer would."""
    package_dir = site / package
    package_dir.mkdir()
    (package_dir / "__init__.py").write_text("")
    (package_dir / "plugin.py").write_text(textwrap.dedent(plugin_source))

    dist_info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (dist_info / "entry_points.txt").write_text(
        f"[llm_kafka.providers]\n{package.removeprefix('llm_kafka_')} = {package}.plugin\n"
    )
    (dist_info / "top_level.txt").write_text(f"{package}\n")
    (dist_info / "INSTALLER").write_text("pytest\n")
    files = [f"{package}/__init__.py", f"{package}/plugin.py"]
    files += [
        f"{dist_info.name}/{n}"
        for n in (
            "METADATA",
            "entry_points.txt",
            "top_level.txt",
            "INSTALLER",
            "RECORD",
        )
    ]
    (dist_info / "RECORD").write_text("".join(f"{path},,\n" for path in files))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A site directory on sys.path with an echo provider and a plugin that fails to import."""
    install_distribution(tmp_path, "llm-kafka-echo", "1.2.3", "llm_kafka_echo", ECHO_PLUGIN)
    install_distribution(tmp_path, "llm-kafka-broken", "0.0.1", "llm_kafka_broken", BROKEN_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    importlib.invalidate_caches()
    yield tmp_path
    for module in [name for name in sys.modules if name.startswith(("llm_kafka_echo", "llm_kafka_broken"))]:
        del sys.modules[module]


def test_installed_plugin_registers_provider(site: Path) -> None:
    registry = ProviderRegistry()

    client = LLMClient("echo", "any-model", registry=registry)

    assert "echo" in registry.names()
    assert client.complete("hello").text == "HELLO"


def test_broken_plugin_is_logged_with_distribution_and_skipped(site: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="llm_kafka.llm.registry"):
        names = ProviderRegistry().names()

    assert "echo" in names
    assert {"anthropic", "openai"} <= set(names)
    assert "llm-kafka-broken 0.0.1" in caplog.text
    assert "'broken'" in caplog.text


def test_plugins_env_restricts_loaded_plugins(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLUGINS_ENV, "broken")

    assert "echo" not in ProviderRegistry().names()


def test_empty_plugins_env_loads_none(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLUGINS_ENV, "")

    assert ProviderRegistry().names() == ["anthropic", "openai"]
