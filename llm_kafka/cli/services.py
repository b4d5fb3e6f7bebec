"""``llm-kafka broker`` and ``llm-kafka llm-server``: the local services for development.

Both forward their arguments to the module's own command line, so ``llm-kafka broker
--help`` lists the broker's options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

FORWARDED = {"broker", "llm-server"}


def _broker_main() -> Callable[[Sequence[str] | None, str | None], int]:
    from llm_kafka.testing import kafka_broker

    return kafka_broker.main


def _llm_server_main() -> Callable[[Sequence[str] | None, str | None], int]:
    from llm_kafka.testing.llm_server.__main__ import main

    return main


_TARGETS: dict[str, Callable[[], Callable[[Sequence[str] | None, str | None], int]]] = {
    "broker": _broker_main,
    "llm-server": _llm_server_main,
}


def add_parsers(commands: Any) -> None:
    """Add the forwarding subcommands, for ``llm-kafka --help``."""
    commands.add_parser(
        "broker",
        help="start a local Apache Kafka broker on 127.0.0.1 and print its bootstrap address",
        add_help=False,
    )
    commands.add_parser(
        "llm-server",
        help="start the local OpenAI- and Anthropic-compatible LLM server on 127.0.0.1",
        add_help=False,
    )


def forward(command: str, arguments: Sequence[str]) -> int:
    """Run ``command``'s own command line with ``arguments``; return its exit status."""
    try:
        return _TARGETS[command]()(list(arguments), f"llm-kafka {command}")
    except SystemExit as exit_:  # argparse exits on --help and on invalid options
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        return 1
