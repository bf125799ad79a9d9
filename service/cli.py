"""``loss-service``: serve the API, grade offline, or write the generated files.

    loss-service serve [--host H] [--port P] [--workers N]   (defaults from LOSS_SERVICE_* env)
    loss-service openapi [--output openapi/openapi.json] [--check]
    loss-service docs [--dir docs] [--check]   (docs/losses.md and docs/errors.md)
    loss-service grade --case case.json --submission sub.json [--format gradescope]
    loss-service autograder run|init ...   (grade students' code; docs/autograder.md)
    loss-service check my_loss.py --assignment A.toml   (a student's self-check)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from . import kernel_cache
from .autograder.cli import add_parsers as add_autograder_parsers
from .config import get_settings
from .observability.logging import configure_logging
from .offline import add_parser as add_grade_parser
from .server import GracefulServer, ServiceConfig
from .tuning import tcp_listener, tune_process

DEFAULT_OPENAPI = Path("openapi/openapi.json")
DEFAULT_DOCS = Path("docs")


def openapi_text() -> str:
    """The app's OpenAPI document, as committed in openapi/openapi.json."""
    from .main import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=False) + "\n"


def _serve(args: argparse.Namespace) -> int:
    settings = get_settings()
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    workers = args.workers or settings.workers
    tune_process(settings)  # before any thread exists; its environment reaches the workers
    if workers > 1:
        _prepare_multiprocess_metrics(settings.metrics_dir)
    configure_logging(settings.log_level, settings.log_format)
    kernel_cache.seed()  # before the workers import numba (the Docker image sets both paths)
    config = ServiceConfig("service.main:create_app", factory=True, host=host, port=port,
                           workers=workers, log_level=settings.log_level, access_log=False,
                           server_header=False, log_config=None,
                           timeout_graceful_shutdown=settings.graceful_timeout_s,
                           max_header_bytes=settings.max_header_bytes,
                           header_timeout_s=settings.header_timeout_s)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[tcp_listener(config.bind_socket())]).run()
        return 0
    server = GracefulServer(config)
    server.run()
    return 0 if server.started else 3


def _prepare_multiprocess_metrics(configured: Path | None) -> None:
    """Workers share a fresh directory for Prometheus samples (set before they start)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or (
        str(configured) if configured else tempfile.mkdtemp(prefix="loss-service-metrics-"))
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):  # samples of a previous run
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def _openapi(args: argparse.Namespace) -> int:
    text = openapi_text()
    out = Path(args.output)
    if args.check:
        current = out.read_text() if out.exists() else ""
        if current != text:
            print(f"{out} is stale: run `loss-service openapi`", file=sys.stderr)
            return 1
        print(f"{out} is current")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out}")
    return 0


def _docs(args: argparse.Namespace) -> int:
    from .docgen import generated_pages

    stale = []
    for name, text in generated_pages().items():
        path = Path(args.dir) / name
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        for path in stale:
            print(f"{path} is stale: run `loss-service docs`", file=sys.stderr)
        return 1
    if args.check:
        print(f"the generated pages in {args.dir} are current")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from .offline import run

    return run(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loss-service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the HTTP server (uvicorn)")
    serve.add_argument("--host", default=None, help="bind address (LOSS_SERVICE_HOST, "
                       "default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (LOSS_SERVICE_PORT, "
                       "default 8000)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes "
                       "(LOSS_SERVICE_WORKERS, default 1)")
    serve.set_defaults(func=_serve)
    api = sub.add_parser("openapi", help="write (or --check) the OpenAPI document")
    api.add_argument("--output", default=str(DEFAULT_OPENAPI))
    api.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    api.set_defaults(func=_openapi)
    docs = sub.add_parser("docs", help="regenerate (or --check) the generated reference pages: "
                          "losses.md (from the loss registry) and errors.md (from the error "
                          "codes)")
    docs.add_argument("--dir", default=str(DEFAULT_DOCS), help="where the pages live "
                      "(default: docs)")
    docs.add_argument("--check", action="store_true", help="exit 1 if a page is stale "
                      "(writes nothing)")
    docs.set_defaults(func=_docs)
    add_grade_parser(sub)
    sub.choices["grade"].set_defaults(func=_grade)
    add_autograder_parsers(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
