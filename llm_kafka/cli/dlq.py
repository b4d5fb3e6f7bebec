"""``llm-kafka dlq replay``: send dead-letter records back to their source topics."""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from typing import Any, TextIO

from llm_kafka.dead_letter_replay import ReplayedRecord, ReplayFilter, ReplayReport, replay_dead_letters
from llm_kafka.errors import ConfigurationError, LLMKafkaError
from llm_kafka.observability.logging import configure_logging, register_secrets
from llm_kafka.settings_file import load_settings

# Without a terminal, progress goes out as one line at most this often.
_PROGRESS_INTERVAL_S = 5.0


def add_parser(commands: Any) -> None:
    """Add the ``dlq`` subcommand group."""
    dlq = commands.add_parser(
        "dlq", help="work with the dead-letter topic", description="Work with the dead-letter topic."
    )
    actions = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)
    replay = actions.add_parser(
        "replay",
        help="send dead-letter records back to their source topics",
        description=(
            "Send the records of pipeline.dead_letter_topic back to the topic named in their "
            "llm_kafka.source.topic header, with the original key, value and headers and an "
            "llm_kafka.replayed header. The replay commits its position under its own consumer "
            "group, so a second run replays only records dead-lettered since."
        ),
    )

    replay.add_argument(
        "--config", "-c", metavar="FILE", help="TOML or YAML settings file (default: $LLM_KAFKA_CONFIG)"
    )

    replay.add_argument(
        "--error-type",
        action="append",
        default=[],
        metavar="TYPE",
        help="replay only records with this llm_kafka.error.type, such as TimeoutError; repeatable or comma-separated",
    )
    replay.add_argument(
        "--since",
        type=_timestamp,
        metavar="ISO",
        help="replay only records dead-lettered at or after this time (ISO 8601; UTC if no offset)",
    )
    replay.add_argument(
        "--until", type=_timestamp, metavar="ISO", help="replay only records dead-lettered before this time"
    )

    replay.add_argument("--limit", type=_positive, metavar="N", help="stop after replaying N records")
    replay.add_argument(
        "--dry-run", action="store_true", help="list the records that would be replayed; send and commit nothing"
    )

    replay.add_argument(
        "--group",
        metavar="GROUP_ID",
        help="consumer group that stores the replay position (default: <kafka.group_id>.dlq-replay)",
    )

    replay.set_defaults(handler=replay_command)


def _timestamp(text: str) -> datetime.datetime:
    # Python 3.10's fromisoformat does not read the "Z" suffix.
    normalized = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        moment = datetime.datetime.fromisoformat(normalized)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid time {text!r}: expected ISO 8601, such as 2026-05-01T12:00:00Z"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.timezone.utc)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected a whole number of 1 or more")
    return value


class _Progress:
    """Progress of a replay on ``stream``: one updating line on a terminal, else a line every few seconds."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._interactive = stream.isatty()
        self._last = 0.0

    def update(self, report: ReplayReport) -> None:
        now = time.monotonic()
        done = report.examined >= report.total
        if not done and now - self._last < (0.2 if self._interactive else _PROGRESS_INTERVAL_S):
            return
        self._last = now
        line = (
            f"examined {report.examined}/{report.total}: {report.replayed} "
            f"{'selected' if report.dry_run else 'replayed'}, {report.filtered_out} filtered out"
        )
        if self._interactive:
            self._stream.write(f"\r{line}" + ("\n" if done else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()


def _print_dry_run(record: ReplayedRecord) -> None:
    key = "-" if record.key is None else record.key.decode("utf-8", errors="replace")
    print(
        f"would replay partition={record.partition} offset={record.offset} to {record.source_topic} "
        f"key={key} error={record.error_type or '-'} id={record.message_id or '-'}",
        flush=True,
    )


def replay_command(arguments: argparse.Namespace) -> int:
    """Run ``dlq replay``; return the exit status."""
    configure_logging("WARNING")
    try:
        settings = load_settings(arguments.config)
        register_secrets(settings.secret_values())
        record_filter = ReplayFilter(
            error_types=frozenset(
                part.strip() for value in arguments.error_type for part in value.split(",") if part.strip()
            ),
            since=arguments.since,
            until=arguments.until,
        )
        report = replay_dead_letters(
            settings.kafka,
            settings.pipeline.dead_letter_topic,
            group_id=arguments.group,
            record_filter=record_filter,
            limit=arguments.limit,
            dry_run=arguments.dry_run,
            on_record=_print_dry_run if arguments.dry_run else None,
            on_progress=_Progress(sys.stderr).update,
        )
    except (ConfigurationError, LLMKafkaError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    verb = "would replay" if report.dry_run else "replayed"
    topics = ", ".join(f"{count} to {topic}" for topic, count in sorted(report.by_topic.items())) or "none"
    print(
        f"{verb} {report.replayed} of {report.examined} examined records ({topics}); "
        f"{report.filtered_out} filtered out, {report.without_source} without a source topic header",
        flush=True,
    )
    return 0
