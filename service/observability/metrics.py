"""Prometheus metrics that stay correct with several worker processes.

With more than one worker, every process writes its samples to files in a shared directory
(``PROMETHEUS_MULTIPROC_DIR``, which ``loss-service serve`` sets up) and ``/metrics`` aggregates
them, so a scrape that lands on any worker reports the totals of all of them.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("loss_service_requests_total", "HTTP requests by route, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram(
    "loss_service_request_duration_seconds", "HTTP request latency by route", ["route", "method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVALUATIONS = Counter("loss_service_evaluations_total", "Loss evaluations by loss, kind, backend",
                      ["loss", "kind", "backend"])
ELEMENTS = Counter("loss_service_elements_total", "Array elements received, by loss", ["loss"])
ERRORS = Counter("loss_service_errors_total", "Error responses by problem code", ["code"])
CONNECTIONS_CLOSED = Counter(
    "loss_service_connections_closed_total", "Connections the server closed on a request's head "
    "or framing, before the app saw a request (service/server.py), by reason", ["reason"])
LOG_LINES_DROPPED = Counter("loss_service_log_lines_dropped_total",
                            "Log lines dropped because the log writer fell behind")


def configure() -> None:
    """Called when an app is built: no ``*_created`` series (a creation timestamp per counter and
    histogram child, which doubles the series and that no dashboard reads; the multi-process
    exposition has none either). Process-wide, like the registry itself."""
    disable_created_metrics()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render() -> tuple[bytes, str]:
    """The metrics exposition (aggregated over workers in multiprocess mode)."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
