"""Structured logs: one JSON object per line (or plain text), configured once per process.

Records are formatted and written by a background thread (:class:`logging.handlers.QueueListener`)
so that a request's access line costs the event loop only the record's creation, never a
formatting pass or a write that blocks on a slow stderr reader (a container runtime's pipe).
The queue is bounded: past :data:`QUEUE_LINES` waiting lines, new ones are dropped and counted
(``loss_service_log_lines_dropped_total``) rather than let memory grow.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import time
from typing import Any

import orjson

from . import metrics

# fields a request log line may carry (set with logger.info("request", extra={...}))
REQUEST_FIELDS = ("request_id", "method", "route", "path", "loss", "n_elements", "status",
                  "duration_ms", "code")
QUEUE_LINES = 10_000
_listener: logging.handlers.QueueListener | None = None


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...request fields, "exc"?}`` on one line."""

    _second: int = -1
    _stamp: str = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # the formatted second, once per second
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S",
                                                              time.gmtime(second))
        out: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in REQUEST_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class _QueueHandler(logging.handlers.QueueHandler):
    """Hands records to the writer thread as they are: formatting happens there."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.args:  # merged now: the arguments may change before the writer runs
            record.msg, record.args = record.getMessage(), None
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            metrics.LOG_LINES_DROPPED.inc()


def stop_logging() -> None:
    """Write out the lines still queued and stop the writer thread (at exit, or before the
    logging is configured again)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


atexit.register(stop_logging)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Route the service's and uvicorn's loggers to stderr in the chosen format, written by a
    background thread."""
    global _listener
    stop_logging()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    lines: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_LINES)
    _listener = logging.handlers.QueueListener(lines, handler, respect_handler_level=True)
    _listener.start()
    root = logging.getLogger()
    root.handlers[:] = [_QueueHandler(lines)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
