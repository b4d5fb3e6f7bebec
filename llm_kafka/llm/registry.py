"""The provider registry: built-in providers plus those that plugins register.

Plugins load from the ``llm_kafka.providers`` entry-point group the first time a provider
is looked up. A plugin that fails to import is logged with its distribution and skipped, so
one broken package does not take the others down. ``LLM_KAFKA_PLUGINS`` set to a
comma-separated list of entry-point names loads only those; set to an empty string, none.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading

import pluggy

from llm_kafka.errors import ConfigurationError
from llm_kafka.llm import hookspecs
from llm_kafka.llm.hookspecs import ENTRY_POINT_GROUP, hookimpl
from llm_kafka.llm.providers.anthropic_messages import AnthropicMessagesProvider
from llm_kafka.llm.providers.base import ProviderFactory
from llm_kafka.llm.providers.openai_chat import OpenAIChatProvider

logger = logging.getLogger(__name__)

PLUGINS_ENV = "LLM_KAFKA_PLUGINS"


class _BuiltinProviders:
    @hookimpl
    def register_providers(self, register: hookspecs.RegisterProvider) -> None:
        register("openai", OpenAIChatProvider)
        register("anthropic", AnthropicMessagesProvider)


class ProviderRegistry:
    """Maps provider names to factories."""

    def __init__(self, load_entry_points: bool = True) -> None:
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self._manager.register(_BuiltinProviders(), name="builtin")
        self._load_entry_points = load_entry_points
        self._factories: dict[str, ProviderFactory] | None = None
        self._lock = threading.Lock()

    def register_plugin(self, plugin: object, name: str | None = None) -> None:
        """Register a plugin object directly, without an entry point."""
        with self._lock:
            self._manager.register(plugin, name=name)
            self._factories = None

    def names(self) -> list[str]:
        """Return the registered provider names, sorted."""
        return sorted(self._collect())

    def factory(self, name: str) -> ProviderFactory:
        """Return the factory of provider ``name``; raise ``ConfigurationError`` if unknown."""
        factories = self._collect()
        try:
            return factories[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown LLM provider {name!r}; registered providers: {', '.join(sorted(factories))}. "
                f"Install the plugin package that provides it."
            ) from None

    def _collect(self) -> dict[str, ProviderFactory]:
        with self._lock:
            if self._factories is None:
                if self._load_entry_points:
                    self._load_plugins()
                    self._load_entry_points = False
                factories: dict[str, ProviderFactory] = {}

                def register(name: str, factory: ProviderFactory) -> None:
                    if name in factories:
                        logger.warning(
                            "LLM provider %r registered twice; the later registration wins",
                            name,
                        )
                    factories[name] = factory

                self._manager.hook.register_providers(register=register)
                self._factories = factories
            return self._factories

    def _load_plugins(self) -> None:
        allowed_text = os.environ.get(PLUGINS_ENV)
        allowed = None if allowed_text is None else {n.strip() for n in allowed_text.split(",") if n.strip()}
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and entry_point.name not in allowed:
                logger.info(
                    "skipping LLM provider plugin %r: not listed in %s",
                    entry_point.name,
                    PLUGINS_ENV,
                )
                continue
            distribution = entry_point.dist
            origin = f"{distribution.name} {distribution.version}" if distribution else "unknown distribution"
            try:
                plugin = entry_point.load()
                self._manager.register(plugin, name=f"entrypoint:{entry_point.name}")
            except Exception:
                logger.exception(
                    "LLM provider plugin %r from %s failed to load; skipping it",
                    entry_point.name,
                    origin,
                )


_default_registry = ProviderRegistry()


def default_registry() -> ProviderRegistry:
    """Return the process-wide registry that ``LLMClient`` uses unless given another."""
    return _default_registry
