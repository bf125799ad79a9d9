"""Serve an ASGI app the way ``loss-service serve`` does, for a bounded time.

    python -m bench.serve bench.apps:app --port 8123 [--workers 2] [--lifetime 600]
                          [--http service|auto|h11|httptools] [--loop auto|asyncio|uvloop]

Same uvicorn settings as the product's ``serve`` (its HTTP protocol, which bounds request heads:
``--http service``, the default; no access log, no server header, the service's logging,
multiprocess metrics with several workers, the same process tuning). The server stops
itself (SIGTERM, then a hard exit) after ``--lifetime`` seconds or as soon as the process that
started it is gone, so a crashed benchmark never leaves one behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time

import uvicorn

from service.cli import _prepare_multiprocess_metrics
from service.config import get_settings
from service.observability.logging import configure_logging

try:
    from service.server import GracefulServer, ServiceConfig
except ImportError:  # an older revision of the service (for before/after comparisons)
    from service.cli import _GracefulServer as GracefulServer  # type: ignore[attr-defined,no-redef]

    ServiceConfig = None  # type: ignore[assignment,misc]

try:
    from service.tuning import tcp_listener, tune_process
except ImportError:  # an older revision of the service (for before/after comparisons)
    def tune_process(settings: object) -> dict[str, int]:
        return {}

    def tcp_listener(sock: socket.socket) -> socket.socket:
        return sock


def _watchdog(lifetime_s: float) -> None:
    parent = os.getppid()
    deadline = time.monotonic() + lifetime_s
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(15)
    os._exit(3)  # graceful shutdown did not finish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("app", help="import string, e.g. bench.apps:app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--lifetime", type=float, default=600.0)
    parser.add_argument("--http", default="service",
                        help="service: the product's protocol (uvicorn's httptools one with "
                        "bounded heads); or one of uvicorn's")
    parser.add_argument("--loop", default="auto")
    args = parser.parse_args(argv)
    threading.Thread(target=_watchdog, args=(args.lifetime,), daemon=True).start()
    settings = get_settings()
    tune_process(settings)
    if args.workers > 1:
        _prepare_multiprocess_metrics(settings.metrics_dir)
    configure_logging(settings.log_level, settings.log_format)
    opts = {"host": "127.0.0.1", "port": args.port, "workers": args.workers,
            "log_level": settings.log_level, "access_log": False, "server_header": False,
            "timeout_graceful_shutdown": 5, "log_config": None, "loop": args.loop}
    if args.http == "service" and ServiceConfig is not None:
        config: uvicorn.Config = ServiceConfig(
            args.app, max_header_bytes=settings.max_header_bytes,
            header_timeout_s=settings.header_timeout_s, **opts)
    else:
        config = uvicorn.Config(args.app, http="auto" if args.http == "service" else args.http,
                                **opts)
    if args.workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()
        return 0
    GracefulServer(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
