"""Memory benchmark: resident set size of a pipeline working through a backlog with a slow LLM.

For each backlog size in ``--backlogs`` (200,000 and 20,000 by default) this script produces
that many JSON messages. It then starts a pipeline in a child process, with
``max_in_flight=--max-in-flight``, that sends each message to the local LLM server. The
server runs in a second child process and responds after ``--latency`` seconds. Once the
first output arrives, the parent reads the pipeline process's VmRSS from /proc/<pid>/status
every ``--interval`` seconds for ``--duration`` seconds, then stops it with SIGTERM. The
pipeline need not finish the backlog: at 0.5 s and 64 in flight it does about 128 messages
a second.

It reports the start, maximum and end RSS and the least-squares slope, over the whole run
and after the first ``--warmup`` seconds. Flat means the slope after warm-up stays near
zero and the figures do not grow with the backlog. Linux only (reads /proc).

Run: ``python benchmarks/memory.py`` (about 3 minutes plus producing 220,000 messages).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from _common import (
    MAX_TOKENS,
    AskModel,
    OutputCounter,
    broker,
    configure_logging,
    json_message,
    llm_server_process,
    load_average,
    new_topic,
    print_run_details,
    print_table,
    produce_bulk,
    rss_kib,
    slope_per_minute,
)

from llm_kafka import KafkaSettings, LLMClient, Pipeline, PipelineSettings

# How long the child pipeline may take to exit after SIGTERM before it is killed. It waits
# up to shutdown_timeout_s (set below) for calls in flight, then flushes and commits.
_STOP_TIMEOUT_S = 60.0
_SHUTDOWN_TIMEOUT_S = 10.0
_FIRST_OUTPUT_TIMEOUT_S = 60.0


def run_child(arguments: argparse.Namespace) -> int:
    """Run the pipeline until SIGTERM; the parent measures this process."""
    configure_logging(arguments.verbose)
    llm = LLMClient("openai", "local-model", api_key="local", base_url=arguments.child_base_url, max_tokens=MAX_TOKENS)
    pipeline = Pipeline(
        AskModel(),
        kafka=KafkaSettings(bootstrap_servers=arguments.child_bootstrap, group_id=f"bench-memory-{uuid.uuid4().hex}"),
        settings=PipelineSettings(
            input_topics=[arguments.child_input],
            output_topic=arguments.child_output,
            dead_letter_topic=arguments.child_dead_letters,
            max_in_flight=arguments.max_in_flight,
            shutdown_timeout_s=_SHUTDOWN_TIMEOUT_S,
        ),
        llm=llm,
    )
    pipeline.run()
    return 0


@dataclass
class MemoryResult:
    backlog: int
    samples: list[tuple[float, float]]  # (seconds since start, RSS in MiB)
    processed: int
    warmup: float

    def after_warmup(self) -> list[tuple[float, float]]:
        return [sample for sample in self.samples if sample[0] >= self.warmup]

    def row(self) -> list[str]:
        values = [rss for _, rss in self.samples]
        steady = self.after_warmup()
        return [
            f"{self.backlog:,}",
            str(len(self.samples)),
            f"{values[0]:.1f}",
            f"{max(values):.1f}",
            f"{values[-1]:.1f}",
            f"{slope_per_minute(self.samples):+.2f}",
            f"{slope_per_minute(steady):+.2f}" if len(steady) >= 2 else "-",
            f"{self.processed:,}",
        ]


def measure(bootstrap: str, base_url: str, backlog: int, arguments: argparse.Namespace) -> MemoryResult:
    """Produce ``backlog`` messages, run the child pipeline on them and sample its RSS."""
    input_topic = new_topic(bootstrap, "memory-in", arguments.partitions)
    seconds = produce_bulk(
        bootstrap, input_topic, backlog, arguments.partitions, lambda index: json_message(index, arguments.size)
    )
    print(f"produced a backlog of {backlog} messages to {input_topic} in {seconds:.1f} s", flush=True)
    output_topic = new_topic(bootstrap, "memory-out", arguments.partitions)
    dead_letter_topic = new_topic(bootstrap, "memory-dlq", 1)

    command = [
        sys.executable,
        __file__,
        "--max-in-flight",
        str(arguments.max_in_flight),
        "--child-bootstrap",
        bootstrap,
        "--child-base-url",
        base_url,
        "--child-input",
        input_topic,
        "--child-output",
        output_topic,
        "--child-dead-letters",
        dead_letter_topic,
    ]
    if arguments.verbose:
        command.append("--verbose")
    child = subprocess.Popen(command)
    samples: list[tuple[float, float]] = []
    outputs = OutputCounter(bootstrap, output_topic, arguments.partitions)
    try:
        # Sampling starts at the first output, so start-up (imports, joining the group) is
        # not counted as growth.
        if outputs.wait_for(1, _FIRST_OUTPUT_TIMEOUT_S, stop_early=lambda: child.poll() is not None) is None:
            raise RuntimeError(f"the pipeline produced no output within {_FIRST_OUTPUT_TIMEOUT_S:.0f} s")
        started = time.monotonic()
        while time.monotonic() - started < arguments.duration:
            if child.poll() is not None:
                raise RuntimeError(f"the pipeline process exited early with code {child.returncode}")
            samples.append((time.monotonic() - started, rss_kib(child.pid) / 1024))
            time.sleep(arguments.interval)
        processed = outputs.count()
    finally:
        outputs.close()
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10.0)
    return MemoryResult(backlog, samples, processed, arguments.warmup)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backlogs", default="200000,20000", help="comma-separated backlog sizes, one run each (default: 200000,20000)"
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to sample each run (default: 60)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between RSS samples (default: 1)")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="seconds left out of the steady-state slope (default: 10)"
    )
    parser.add_argument(
        "--latency", type=float, default=0.5, help="LLM server latency per call in seconds (default: 0.5)"
    )
    parser.add_argument("--max-in-flight", type=int, default=64, help="pipeline max_in_flight (default: 64)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the input topic (default: 4)")
    parser.add_argument("--size", type=int, default=300, help="approximate bytes per input message (default: 300)")
    parser.add_argument("--verbose", action="store_true", help="log at INFO level")
    # Used by the parent to start the measured child process.
    for name in ("--child-bootstrap", "--child-base-url", "--child-input", "--child-output", "--child-dead-letters"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    try:
        arguments.backlog_list = [int(value) for value in arguments.backlogs.split(",") if value.strip()]
    except ValueError:
        parser.error(f"invalid --backlogs {arguments.backlogs!r}: expected comma-separated integers")
    if not arguments.backlog_list or min(arguments.backlog_list) < 1:
        parser.error("--backlogs needs at least one size of 1 or more")
    if not 1 <= arguments.duration <= 3600:
        parser.error(f"invalid --duration {arguments.duration}: expected 1 to 3600 seconds")
    if not 0.1 <= arguments.interval <= arguments.duration:
        parser.error(f"invalid --interval {arguments.interval}: expected 0.1 s up to --duration")
    if arguments.latency < 0 or arguments.max_in_flight < 1 or arguments.partitions < 1:
        parser.error("--latency must be >= 0 and --max-in-flight and --partitions at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.child_bootstrap:
        return run_child(arguments)

    configure_logging(arguments.verbose)
    load_before = load_average()
    results = []
    with broker() as bootstrap, llm_server_process(arguments.latency) as server:
        for backlog in arguments.backlog_list:
            result = measure(bootstrap, server.openai_base_url, backlog, arguments)
            results.append(result)
            print(f"backlog {backlog}: {result.row()}", flush=True)

    print()
    print_table(
        [
            "backlog",
            "samples",
            "start MiB",
            "max MiB",
            "end MiB",
            "slope MiB/min",
            f"slope after {arguments.warmup:.0f} s",
            "outputs",
        ],
        [result.row() for result in results],
    )
    print(
        f"\nLLM latency {arguments.latency} s, max_in_flight {arguments.max_in_flight}, "
        f"{arguments.duration:.0f} s per run, RSS of the pipeline process only "
        "(the LLM server runs in its own process)."
    )
    for result in results:
        series = ", ".join(f"{rss:.1f}" for _, rss in result.samples)
        print(f"\nRSS samples (MiB), backlog {result.backlog:,}: {series}")
    print_run_details(load_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
