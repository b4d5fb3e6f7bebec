"""The ``llm-kafka`` command: run a pipeline, replay dead letters, start local services.

``llm-kafka run module:object`` runs a pipeline or processor with a settings file,
``llm-kafka dlq replay`` sends dead-letter records back to their source topics, and
``llm-kafka broker`` and ``llm-kafka llm-server`` start the local Apache Kafka broker and
LLM server for development. ``main`` returns the exit status: 0 on success, 1 when the
command failed, 2 for invalid arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from llm_kafka.cli import dlq, run, services


def build_parser() -> argparse.ArgumentParser:
    """Build the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="llm-kafka",
        description="Run LLM work over Kafka streams, replay dead letters, and start local services.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run.add_parser(commands)
    dlq.add_parser(commands)
    services.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: the process arguments) and return its exit status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in services.FORWARDED:
        return services.forward(arguments[0], arguments[1:])

    parsed = build_parser().parse_args(arguments)
    status: int = parsed.handler(parsed)
    return status
