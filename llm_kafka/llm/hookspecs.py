"""Hook specifications for provider plugins.

A plugin is a module or object with a ``register_providers`` function marked with
``llm_kafka.llm.hookimpl``. Publish it under the entry-point group ``llm_kafka.providers``::

    [project.entry-points."llm_kafka.providers"]
    my_provider = "my_package.plugin"

    # my_package/plugin.py
    from llm_kafka.llm import hookimpl

    @hookimpl
    def register_providers(register):
        register("my-provider", MyProvider)   # MyProvider(settings: ProviderSettings)
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from llm_kafka.llm.providers.base import ProviderFactory

PROJECT_NAME = "llm_kafka"
ENTRY_POINT_GROUP = "llm_kafka.providers"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

RegisterProvider = Callable[[str, ProviderFactory], None]


@hookspec
def register_providers(register: RegisterProvider) -> None:
    """Call ``register(name, factory)`` once per provider; ``factory(settings)`` builds it."""
