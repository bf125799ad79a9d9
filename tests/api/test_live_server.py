"""Start the real server (`loss-service serve` on a free port), wait for /readyz, and make one
request per route with the synchronous client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from service.api.schemas import example_body
from service.client import LossClient
from service.losses import SPECS
from tests.serverutil import running_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server() as (url, _):
        yield url


def test_one_request_per_route(server):
    with LossClient(server) as client:
        assert client.ready()
        assert client.version()["service"]
        assert len(client.losses()) == len(SPECS)
        for spec in SPECS:
            assert client.describe(spec.name)["name"] == spec.name
            body = example_body(spec)
            inputs = {**body.get("inputs", {})}
            args = dict(predictions=body.get("predictions"), targets=body.get("targets"),
                        inputs=inputs or None, reduction=body["reduction"],
                        **body.get("params", {}))
            r = client.loss(spec.name, **args)
            assert r.loss == spec.name
            if spec.differentiable:
                g = client.gradient(spec.name, **args)
                given = {*body.get("inputs", {}), *(k for k in ("predictions", "targets")
                                                    if k in body)}
                assert set(g.gradients) == set(spec.differentiable_inputs) & given
    r = httpx.get(f"{server}/healthz")
    assert r.json() == {"status": "ok"}
