"""The service's app plus a ``GET /ping``, and a bare FastAPI app, for the HTTP suites (benchmarks
only).

``app``'s ``/ping`` goes through the same app, middleware (request id, metrics, the log line)
and server settings as ``/loss/{name}``, and returns a fixed body: the floor any route of this
server can reach. ``bare`` is a FastAPI app with nothing but ``GET /ping``: the floor of any
FastAPI app on the same server settings, which the small-requests suite's targets are relative
to (issue 22). The product API has no ``/ping``; it exists only here. With
``BENCH_ORDINARY_PARSER=1`` the arrays of large bodies are not read in place (the parser that
3-D arrays and bodies with errors take).
"""

from __future__ import annotations

import os

from fastapi import FastAPI
from starlette.responses import Response

from service.main import create_app
from service.transport import json_in

if os.environ.get("BENCH_ORDINARY_PARSER") == "1":  # bench memory --ordinary-parser
    json_in.B64_INPLACE_BYTES = 1 << 62  # every body parsed by orjson into Python objects

app = create_app()

_PONG = b'{"ping":"pong"}'


@app.get("/ping", include_in_schema=False)
async def ping() -> Response:
    return Response(_PONG, media_type="application/json")


bare = FastAPI()


@bare.get("/ping")
async def bare_ping() -> dict[str, str]:
    return {"ping": "pong"}
