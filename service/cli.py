"""``loss-service``: serve the API, or write the OpenAPI document.

    loss-service serve [--host H] [--port P] [--workers N]   (defaults from LOSS_SERVICE_* env)
    loss-service openapi [--output openapi/openapi.json] [--check]
    loss-service docs [--readme README.md] [--check]   (the README's generated loss table)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import get_settings

DEFAULT_OPENAPI = Path("openapi/openapi.json")
TABLE_START, TABLE_END = "<!-- losses-table:start -->", "<!-- losses-table:end -->"


def openapi_text() -> str:
    """The app's OpenAPI document, as committed in openapi/openapi.json."""
    from .main import create_app

    return json.dumps(create_app().openapi(), indent=2, sort_keys=False) + "\n"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    host = args.host or settings.host
    port = settings.port if args.port is None else args.port
    workers = args.workers or settings.workers
    uvicorn.run("service.main:app", host=host, port=port, workers=workers,
                log_level=settings.log_level, access_log=False)
    return 0


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


def readme_with_table(readme: str) -> str:
    """``readme`` with the generated loss table between its markers."""
    from .losses import ALIASES, LOSSES
    from .losses.catalog import markdown_table

    start = readme.index(TABLE_START) + len(TABLE_START)
    end = readme.index(TABLE_END)
    summary = f"{len(LOSSES)} losses, {len(ALIASES)} aliases."
    return readme[:start] + "\n" + summary + "\n\n" + markdown_table() + "\n" + readme[end:]


def _docs(args: argparse.Namespace) -> int:
    path = Path(args.readme)
    current = path.read_text()
    updated = readme_with_table(current)
    if args.check:
        if current != updated:
            print(f"{path} loss table is stale: run `loss-service docs`", file=sys.stderr)
            return 1
        print(f"{path} is current")
        return 0
    path.write_text(updated)
    print(f"updated {path}")
    return 0


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
    docs = sub.add_parser("docs", help="regenerate (or --check) the README's loss table")
    docs.add_argument("--readme", default="README.md")
    docs.add_argument("--check", action="store_true", help="exit 1 if the table is stale")
    docs.set_defaults(func=_docs)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
