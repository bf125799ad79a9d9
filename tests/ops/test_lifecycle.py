"""A real server: multi-worker metrics totals, graceful SIGTERM, no server banner."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.serverutil import running_server

pytestmark = pytest.mark.slow  # real server processes

OK = b'{"predictions": [1.0, 2.0], "targets": [0.0, 1.0]}'
JSON = {"content-type": "application/json"}


def _total(text: str, route: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "loss_service_requests_total" and s.labels.get("route") == route)


def test_two_workers_report_totals_from_both(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with running_server("--workers", "2", env=env) as (url, _):
        n = 60
        for _ in range(n):  # a fresh connection each time, so both workers get requests
            r = httpx.post(f"{url}/loss/mse", content=OK, headers=JSON)
            assert r.status_code == 200
        # each worker process that counted a request wrote its own samples file
        pids = {p.stem.split("_")[-1] for p in tmp_path.glob("counter_*.db")}
        assert len(pids) == 2, pids
        for _ in range(4):  # whichever worker answers the scrape reports the total of both
            assert _total(httpx.get(f"{url}/metrics").text, "/loss/mse") == n


def test_sigterm_lets_an_in_flight_request_finish():
    with running_server() as (url, proc):
        result: dict = {}
        sent_first = threading.Event()

        def slow_body():
            yield b'{"predictions": [1.0, 2.0], '
            sent_first.set()
            time.sleep(1.5)  # the server receives SIGTERM while this request is in flight
            yield b'"targets": [0.0, 1.0]}'

        def request():
            try:
                r = httpx.post(f"{url}/loss/mse", content=slow_body(), headers=JSON, timeout=30)
                result["status"], result["body"] = r.status_code, r.json()
            except Exception as exc:  # surfaced by the assertion below
                result["error"] = repr(exc)

        t = threading.Thread(target=request)
        t.start()
        assert sent_first.wait(10)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert result.get("status") == 200, result
        assert result["body"]["value"] == 1.0
        assert proc.wait(timeout=30) == 0


def test_no_server_banner():
    with running_server() as (url, _):
        r = httpx.get(f"{url}/healthz")
        assert "server" not in r.headers
        assert r.headers["x-content-type-options"] == "nosniff"


def test_a_server_that_logs_more_than_a_pipe_holds_keeps_answering():
    # At info level every request writes an access log line (about 100 bytes): 1,500 of them
    # overflow a 64 KiB pipe, which blocks a server whose output nobody reads.
    with running_server(env={"LOSS_SERVICE_LOG_LEVEL": "info"}) as (url, _), \
            httpx.Client(timeout=10) as client:
        for _ in range(1500):
            assert client.post(f"{url}/loss/mse", content=OK, headers=JSON).status_code == 200
