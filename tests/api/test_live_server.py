"""Start the real server (`loss-service serve` on a free port), wait for /readyz, and make one
request per route with the synchronous client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from service.api.schemas import example_body
from service.client import LossClient
from service.losses import SPECS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "LOSS_SERVICE_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"server did not become ready:\n{out}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()


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
                assert set(g.gradients) == set(spec.differentiable_inputs)
    r = httpx.get(f"{server}/healthz")
    assert r.json() == {"status": "ok"}
