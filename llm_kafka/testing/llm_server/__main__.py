"""Command line for the local LLM server: `python -m llm_kafka.testing.llm_server`.

Parses fault and limit options, starts the server on 127.0.0.1, prints the OpenAI and
Anthropic base URLs and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

from llm_kafka.testing.llm_server.server import LocalLLMServer


def _latency(text: str) -> float | tuple[float, float]:
    if "," in text:
        low, high = text.split(",", 1)
        return float(low), float(high)
    return float(text)


def _marker(text: str) -> tuple[str, int]:
    marker, separator, status = text.rpartition("=")
    if not separator or not marker:
        raise argparse.ArgumentTypeError(f"invalid marker {text!r}: expected MARKER=STATUS, such as LLMFAIL500=500")
    return marker, int(status)


def build_parser(prog: str = "python -m llm_kafka.testing.llm_server") -> argparse.ArgumentParser:
    """Build the parser whose options map onto `FaultSettings` (see `settings_from_arguments`)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local OpenAI- and Anthropic-compatible LLM API on 127.0.0.1.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="TCP port on 127.0.0.1, where 0 picks a free port (default 8080)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level; DEBUG logs every request and injected fault (default INFO)",
    )

    timing = parser.add_argument_group("latency and rate limits")
    timing.add_argument(
        "--latency",
        type=_latency,
        default=0.0,
        help="delay per response in seconds, or MIN,MAX for a uniform random delay (default 0)",
    )
    timing.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for random latency and fault rates (default 0)",
    )
    timing.add_argument(
        "--rpm",
        type=int,
        default=None,
        help="requests admitted per window (default: no limit)",
    )
    timing.add_argument(
        "--tpm",
        type=int,
        default=None,
        help="estimated tokens admitted per window (default: no limit)",
    )
    timing.add_argument(
        "--window-seconds",
        type=float,
        default=60.0,
        help="rate-limit window in seconds (default 60)",
    )

    errors = parser.add_argument_group("injected errors")
    errors.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        help="probability of an injected error status per request (default 0)",
    )
    errors.add_argument(
        "--error-status",
        type=int,
        action="append",
        default=None,
        help="status drawn by --error-rate, repeatable (default 500 and 503)",
    )
    errors.add_argument(
        "--overloaded-rate",
        type=float,
        default=0.0,
        help="probability of a 529 overloaded_error per Anthropic request (default 0)",
    )
    errors.add_argument(
        "--fail-marker",
        type=_marker,
        action="append",
        default=[],
        help="MARKER=STATUS, repeatable: prompts containing MARKER get STATUS",
    )
    errors.add_argument(
        "--fail-first-n",
        type=int,
        default=0,
        help="number of first model requests that fail (default 0)",
    )
    errors.add_argument(
        "--fail-first-status",
        type=int,
        default=500,
        help="status for --fail-first-n (default 500)",
    )

    broken = parser.add_argument_group("hangs and malformed answers")
    broken.add_argument(
        "--hang-rate",
        type=float,
        default=0.0,
        help="probability that a request gets no response and its connection is closed (default 0)",
    )
    broken.add_argument("--hang-marker", default=None, help="prompt substring that makes a request hang")
    broken.add_argument(
        "--hang-seconds",
        type=float,
        default=30.0,
        help="seconds a hung request is kept open (default 30)",
    )
    broken.add_argument(
        "--malformed-rate",
        type=float,
        default=0.0,
        help="probability of truncated JSON or prose instead of the requested format (default 0)",
    )
    broken.add_argument(
        "--malformed-marker",
        default=None,
        help="prompt substring that makes the answer malformed",
    )

    provider = parser.add_argument_group("provider errors")
    provider.add_argument(
        "--refusal-marker",
        default=None,
        help="prompt substring that makes the model refuse",
    )
    provider.add_argument(
        "--context-window",
        type=int,
        default=None,
        help="context window in tokens; larger requests get the context-length error (default: none)",
    )
    provider.add_argument(
        "--quota-exhausted",
        action="store_true",
        help="fail every model request as an account without credit",
    )
    provider.add_argument(
        "--stream-overloaded-marker",
        default=None,
        help="prompt substring that ends a streamed Anthropic answer with an overloaded_error event",
    )
    return parser


def settings_from_arguments(arguments: argparse.Namespace) -> dict[str, Any]:
    """Map parsed options onto `FaultSettings` names."""
    settings: dict[str, Any] = {
        "latency": arguments.latency,
        "seed": arguments.seed,
        "requests_per_minute": arguments.rpm,
        "tokens_per_minute": arguments.tpm,
        "window_seconds": arguments.window_seconds,
        "error_rate": arguments.error_rate,
        "overloaded_rate": arguments.overloaded_rate,
        "fail_marker": dict(arguments.fail_marker),
        "fail_first_n": arguments.fail_first_n,
        "fail_first_status": arguments.fail_first_status,
        "hang_rate": arguments.hang_rate,
        "hang_marker": arguments.hang_marker,
        "hang_seconds": arguments.hang_seconds,
        "malformed_rate": arguments.malformed_rate,
        "malformed_marker": arguments.malformed_marker,
        "refusal_marker": arguments.refusal_marker,
        "context_window": arguments.context_window,
        "quota_exhausted": arguments.quota_exhausted,
        "stream_overloaded_marker": arguments.stream_overloaded_marker,
    }
    if arguments.error_status:
        settings["error_statuses"] = tuple(arguments.error_status)
    return settings


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the server until SIGINT or SIGTERM; return the process exit status."""
    parser = build_parser(prog) if prog else build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=arguments.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        server = LocalLLMServer(port=arguments.port, **settings_from_arguments(arguments))
    except ValueError as error:
        parser.error(str(error))

    stop_requested = threading.Event()

    def request_stop(signal_number: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server.start()
    except OSError as error:
        print(
            f"error: cannot listen on 127.0.0.1:{arguments.port}: {error}. Pick another --port.",
            file=sys.stderr,
        )
        return 1

    print(f"OpenAI base URL:    {server.openai_base_url}", flush=True)
    print(f"Anthropic base URL: {server.anthropic_base_url}", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    # A timed wait keeps the main thread responsive to signals on every platform.
    while not stop_requested.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
