"""``llm-kafka run module:object``: import a pipeline or processor and run it until stopped.

``object`` may be a ``Pipeline``, a ``BaseProcessor`` instance or class, a mapping from
message type to processor, or a callable with no arguments that returns one of these.
Anything but a ``Pipeline`` is wired into one from the settings (``--config`` file,
``LLM_KAFKA_...`` variables). The telemetry settings start logging, the Prometheus
endpoint and the health endpoint around the run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from llm_kafka.config import Settings, TelemetrySettings
from llm_kafka.errors import ConfigurationError
from llm_kafka.llm.client import LLMClient
from llm_kafka.llm.rate_limit import RateLimits
from llm_kafka.observability.health import HealthServer, HealthState
from llm_kafka.observability.health_transport import HealthReportingTransport
from llm_kafka.observability.logging import configure_logging, register_secrets
from llm_kafka.observability.metrics import MetricsCollector
from llm_kafka.observability.prometheus import start_prometheus_endpoint
from llm_kafka.pipeline import Pipeline
from llm_kafka.processor import BaseProcessor
from llm_kafka.resilience.circuit_breaker import CircuitBreaker
from llm_kafka.resilience.retry import RetryPolicy
from llm_kafka.settings_file import load_settings

logger = logging.getLogger(__name__)


def add_parser(commands: Any) -> None:
    """Add the ``run`` subcommand."""
    parser = commands.add_parser(
        "run",
        help="run a pipeline or processor given as module:object",
        description="Import module:object and run it as a pipeline until Ctrl-C or SIGTERM.",
    )
    parser.add_argument(
        "target",
        metavar="MODULE:OBJECT",
        help="a Pipeline, a BaseProcessor instance or class, a mapping of message type to "
        "processor, or a function returning one, such as myapp.processors:Summarize",
    )
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="TOML or YAML settings file (default: $LLM_KAFKA_CONFIG, else only LLM_KAFKA_ variables)",
    )
    parser.add_argument(
        "--app-dir",
        default=".",
        help="folder added to the import path before importing MODULE (default: the current folder)",
    )
    parser.set_defaults(handler=run_command)


def import_target(reference: str, app_dir: str = ".") -> Any:
    """Import ``module:attribute`` (the attribute may be dotted); raise ``ConfigurationError`` if absent."""
    module_name, separator, attribute = reference.partition(":")
    if not separator or not module_name or not attribute:
        raise ConfigurationError(f"invalid target {reference!r}: expected MODULE:OBJECT, such as myapp:pipeline")

    folder = os.path.abspath(app_dir)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name and not module_name.startswith(f"{error.name}."):
            raise  # the module exists but one of its own imports is missing
        raise ConfigurationError(
            f"module {module_name!r} not found in {folder} or on the import path; check --app-dir"
        ) from error

    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return target


def build_pipeline(
    target: Any,
    settings: Settings | None,
    *,
    metrics: MetricsCollector | None = None,
    health: HealthState | None = None,
) -> Pipeline:
    """Return the ``Pipeline`` that ``target`` is or describes, wired from ``settings``.

    Raises ``ConfigurationError`` when ``target`` is of another kind, or when it needs
    settings and ``settings`` is None.
    """
    if callable(target) and not isinstance(target, (type, BaseProcessor, Pipeline)):
        target = target()
    if isinstance(target, type) and issubclass(target, BaseProcessor):
        target = target()
    if isinstance(target, Pipeline):
        if health is not None:
            _report_health(target, health)
        return target

    is_routes = isinstance(target, Mapping) and all(isinstance(value, BaseProcessor) for value in target.values())
    if not isinstance(target, BaseProcessor) and not is_routes:
        raise ConfigurationError(
            f"cannot run a {type(target).__name__}: the target must be a Pipeline, a BaseProcessor "
            f"instance or class, a mapping of message type to processor, or a function returning one"
        )
    if settings is None:
        raise ConfigurationError(
            "running a processor needs settings for Kafka and the pipeline: pass --config FILE "
            "or set LLM_KAFKA_ variables"
        )

    metrics = metrics or MetricsCollector()
    llm = _build_llm(settings, metrics)
    options: dict[str, Any] = {"kafka": settings.kafka, "settings": settings.pipeline, "llm": llm, "metrics": metrics}
    pipeline = Pipeline(target, **options)
    if health is not None:
        _report_health(pipeline, health)
    return pipeline


def _report_health(pipeline: Pipeline, health: HealthState) -> None:
    """Make ``pipeline``'s consumer and circuit breaker report into ``health``."""
    if not isinstance(pipeline.transport, HealthReportingTransport):
        pipeline.transport = HealthReportingTransport(pipeline.transport, health)
    if pipeline.llm is not None:
        health.watch_breaker(pipeline.llm.circuit_breaker)


def _build_llm(settings: Settings, metrics: MetricsCollector) -> LLMClient | None:
    if settings.llm is None:
        return None
    options = settings.llm.client_options()
    breaker = CircuitBreaker(
        f"{options['provider']}:{options['model'] or 'default'}",
        failure_threshold=settings.llm.breaker_failure_threshold,
        recovery_timeout=settings.llm.breaker_recovery_timeout_s,
    )
    rate_limits = None
    if settings.llm.requests_per_minute is not None or settings.llm.tokens_per_minute is not None:
        rate_limits = RateLimits(
            requests_per_minute=settings.llm.requests_per_minute, tokens_per_minute=settings.llm.tokens_per_minute
        )
    return LLMClient(
        **options,
        retry_policy=RetryPolicy(max_attempts=settings.llm.max_attempts),
        circuit_breaker=breaker,
        rate_limits=rate_limits,
        metrics=metrics,
    )


def _load_optional_settings(path: str | None) -> tuple[Settings | None, ConfigurationError | None]:
    """Load settings. Without an explicit file a failure is returned, not raised.

    A Pipeline target needs no settings, so the failure matters only for other targets.
    """
    if path is not None:
        return load_settings(path), None
    try:
        return load_settings(), None
    except ConfigurationError as error:
        return None, error


def run_command(arguments: argparse.Namespace) -> int:
    """Run the ``run`` subcommand; return the exit status."""
    try:
        settings, settings_error = _load_optional_settings(arguments.config)
    except ConfigurationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    telemetry = settings.telemetry if settings is not None else TelemetrySettings()
    configure_logging(
        telemetry.log_level, json=telemetry.log_format == "json", repeats_per_minute=telemetry.log_repeats_per_minute
    )
    if settings is not None:
        register_secrets(settings.secret_values())

    with ExitStack() as stack:
        try:
            metrics = _start_metrics(telemetry, stack)
            health = _start_health(telemetry, stack)
            target = import_target(arguments.target, arguments.app_dir)
            try:
                pipeline = build_pipeline(target, settings, metrics=metrics, health=health)
            except ConfigurationError:
                if settings_error is not None:
                    raise settings_error from None
                raise
        except ConfigurationError as error:
            logger.error("%s", error)
            return 1

        logger.info("running %s", arguments.target)
        try:
            pipeline.run()
        except ConfigurationError as error:  # a setup mistake, such as a missing topic: no traceback
            logger.error("%s", error)
            return 1
        except Exception:
            logger.exception("pipeline stopped with an error")
            return 1
    return 0


def _start_metrics(telemetry: TelemetrySettings, stack: ExitStack) -> MetricsCollector | None:
    if telemetry.prometheus_port is None:
        return None
    endpoint = start_prometheus_endpoint(telemetry.prometheus_port, telemetry.prometheus_host)
    stack.callback(endpoint.close)
    return MetricsCollector(meter=endpoint.meter_provider.get_meter("llm_kafka"))


def _start_health(telemetry: TelemetrySettings, stack: ExitStack) -> HealthState | None:
    if telemetry.health_port is None:
        return None
    state = HealthState(telemetry.liveness_timeout_s)
    try:
        server = HealthServer(state, telemetry.health_port, telemetry.health_host).start()
    except OSError as error:
        raise ConfigurationError(
            f"cannot serve health checks on {telemetry.health_host}:{telemetry.health_port}: {error}. "
            f"Pick another telemetry.health_port."
        ) from error
    stack.callback(server.stop)
    return state
