"""The walk of a request through the code stays what ``service/__init__.py`` says it is.

The README's example, ``POST /gradient/cross_entropy`` with one row, is sent through the app in
this thread while a profiler records the module of every function of the service that runs. Take
away the checks and helpers called on the way (listed here, each with why it is not a step), and
what is left must be exactly the modules the package docstring's walk names, in at most twelve
files: a new layer on the way fails this test until the walk (and its count) says so.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any

import pytest

import service

pytestmark = pytest.mark.anyio

# Called on the way, not steps of the walk: checks and math helpers of one step, the
# middleware and its log, and the lookups every step makes.
HELPERS = {
    "service.casting",  # values kept as sent (arrays' rule, the core's casts)
    "service.deadline",  # the request's time budget, checked by the steps
    "service.tuning",  # the collector pause of large bodies
    "service.transport.inflight",  # the budget of body bytes in flight (read_body's)
    "service.backends.registry",  # the backend's name resolved (engine's)
    "service.losses._checks",  # a loss's input checks
    "service.losses._classes",
    "service.losses._math",
    "service.losses.params",  # parameter validation (evaluate's)
    "service.losses.registry",  # get_loss
    "service.losses.spec",  # the spec's own methods (conventions)
    "service.losses.warn",  # the validate mode's context
    "service.observability.middleware",  # wraps every request
    "service.observability.logging",  # the access log
}


def _walk_from_docstring() -> list[str]:
    text = service.__doc__ or ""
    walk = text[text.index("A request's walk"):]
    walk = walk[:walk.index("Checks and math helpers")]
    return re.findall(r":mod:`(service[.\w]*)`", walk)


def test_the_docstring_walk_is_at_most_twelve_files() -> None:
    walk = _walk_from_docstring()
    assert len(walk) == len(set(walk)) <= 12, walk
    assert "twelve files" in (service.__doc__ or "") and len(walk) == 12


async def test_the_readme_example_walks_the_documented_files(client: Any) -> None:
    body = {"predictions": [[3.2, 5.1, -1.7]], "targets": [0]}
    assert (await client.post("/gradient/cross_entropy", json=body)).status_code == 200
    seen: set[str] = set()

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            module = frame.f_globals.get("__name__", "")
            if module.startswith("service"):
                seen.add(module)

    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        r = await client.post("/gradient/cross_entropy", json=body)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    assert r.status_code == 200
    walk = set(_walk_from_docstring()) - {"service.main"}  # main builds the app, before requests
    assert seen - HELPERS == walk, (sorted(seen - HELPERS - walk), sorted(walk - seen))
