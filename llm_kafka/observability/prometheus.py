"""An optional Prometheus scrape endpoint for users without an OpenTelemetry collector.

It needs the ``prometheus`` extra (``pip install 'llm-kafka[prometheus]'``), which brings
``opentelemetry-exporter-prometheus`` and ``prometheus_client``. The endpoint serves every
metric recorded through the meter provider it creates, in the Prometheus text format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics as otel_metrics

from llm_kafka.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider

logger = logging.getLogger(__name__)


@dataclass
class PrometheusEndpoint:
    """A running scrape endpoint and the meter provider whose metrics it serves."""

    meter_provider: MeterProvider
    host: str
    port: int
    _server: Any
    _thread: Any

    @property
    def url(self) -> str:
        """The scrape URL, ``http://HOST:PORT/metrics``."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and shut the meter provider down; safe to call twice."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)
        self.meter_provider.shutdown()
        logger.info("prometheus endpoint on %s:%d stopped", self.host, self.port)


def start_prometheus_endpoint(
    port: int = 9464, host: str = "127.0.0.1", *, set_global: bool = True
) -> PrometheusEndpoint:
    """Serve metrics at ``http://host:port/metrics`` from a thread, and return the endpoint.

    ``port`` 0 picks a free port. ``host`` is 127.0.0.1 by default so nothing outside the
    machine can scrape it; use ``0.0.0.0`` inside a container. With ``set_global`` the new
    meter provider becomes the global OpenTelemetry one, which ``MetricsCollector()`` uses by
    default. Raises ``ConfigurationError`` when the extra is missing, or when ``set_global``
    is true and an application already set a global meter provider (add a
    ``PrometheusMetricReader`` to that provider instead).
    """
    try:
        import prometheus_client
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError as error:
        raise ConfigurationError(
            f"the Prometheus endpoint needs the prometheus extra ({error.name} is missing): "
            f"pip install 'llm-kafka[prometheus]'"
        ) from error

    registry = prometheus_client.CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(scope_info_enabled=False, registry=registry)])
    try:
        server, thread = prometheus_client.start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        provider.shutdown()
        raise ConfigurationError(
            f"cannot serve Prometheus metrics on {host}:{port}: {error}. Pick another port."
        ) from error
    if set_global:
        # The API keeps the first global provider and ignores later ones, with a warning.
        otel_metrics.set_meter_provider(provider)
        if otel_metrics.get_meter_provider() is not provider:
            server.shutdown()
            server.server_close()
            provider.shutdown()
            raise ConfigurationError(
                "a global OpenTelemetry meter provider is already set; add "
                "opentelemetry.exporter.prometheus.PrometheusMetricReader to it instead of "
                "starting the llm-kafka Prometheus endpoint"
            )

    bound_port = int(server.server_address[1])
    logger.info("prometheus endpoint serving on http://%s:%d/metrics", host, bound_port)
    return PrometheusEndpoint(provider, host, bound_port, server, thread)
