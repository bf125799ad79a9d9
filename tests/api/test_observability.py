"""Request ids, security headers, metrics, structured logs, API keys and CORS (in-process)."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.config import Settings
from service.observability.logging import JsonFormatter

pytestmark = pytest.mark.anyio

OK = {"predictions": [1.0, 2.0], "targets": [0.0, 1.0]}


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


async def test_request_id_is_echoed_or_generated(client):
    r = await client.post("/loss/mse", json=OK, headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.post("/loss/mse", json=OK)
    assert len(r.headers["x-request-id"]) == 32
    r = await client.post("/loss/mse", json=OK, headers={"x-request-id": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"


async def test_request_id_in_error_bodies(client):
    r = await client.post("/loss/mse", json={"predictions": [1.0]},
                          headers={"x-request-id": "req-42"})
    assert r.status_code == 422 and r.json()["request_id"] == "req-42"
    r = await client.get("/nope", headers={"x-request-id": "req-43"})
    assert r.json()["request_id"] == "req-43"


async def test_security_headers_and_no_stack_traces(client):
    r = await client.post("/loss/mse", json={"predictions": [[1.0], [2.0, 3.0]], "targets": [0]})
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "Traceback" not in r.text and "/service/" not in r.text and ".py" not in r.text


async def test_metrics_count_requests_evaluations_elements_and_errors(client):
    before = (await client.get("/metrics")).text
    await client.post("/gradient/mse", json=OK)
    await client.post("/loss/l2", json=OK)
    await client.post("/loss/mse", json={"predictions": [1.0], "targets": [0.0, 1.0]})
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = r.text

    def delta(name, **labels):
        return _sample(after, name, **labels) - _sample(before, name, **labels)

    assert delta("loss_service_requests_total", route="/gradient/mse", method="POST",
                 status="200") == 1
    assert delta("loss_service_requests_total", route="/loss/{name}", method="POST",
                 status="200") == 1
    assert delta("loss_service_evaluations_total", loss="mse", kind="gradient",
                 backend="numpy") == 1
    assert delta("loss_service_evaluations_total", loss="mse", kind="loss", backend="numpy") == 1
    assert delta("loss_service_elements_total", loss="mse") == 4 + 4 + 3
    assert delta("loss_service_errors_total", code="shape_mismatch") == 1
    assert delta("loss_service_request_duration_seconds_count", route="/gradient/mse",
                 method="POST") == 1


async def test_every_route_has_its_template_as_label_and_no_created_series(client):
    before = (await client.get("/metrics")).text
    for path in ("/openapi.json", "/docs", "/docs/oauth2-redirect"):
        assert (await client.get(path)).status_code == 200, path
    assert (await client.get("/losses/huber")).status_code == 200
    assert (await client.get("/nope")).status_code == 404
    after = (await client.get("/metrics")).text

    def delta(route, status="200"):
        return _sample(after, "loss_service_requests_total", route=route, method="GET",
                       status=status) - _sample(before, "loss_service_requests_total",
                                                route=route, method="GET", status=status)

    for route in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/losses/{name}"):
        assert delta(route) == 1, route
    assert delta("unmatched", "404") == 1  # only what matched no route
    assert "_created" not in after


async def test_access_log_line_is_json_with_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="service.access")
    await client.post("/loss/huber", json=OK, headers={"x-request-id": "log-me"})
    records = [r for r in caplog.records if getattr(r, "request_id", None) == "log-me"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["msg"] == "request" and line["request_id"] == "log-me"
    assert line["route"] == "/loss/huber" and line["loss"] == "huber"
    assert line["n_elements"] == 4 and line["status"] == 200 and line["duration_ms"] >= 0


async def test_cors_is_closed_by_default(client):
    r = await client.post("/loss/mse", json=OK, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


async def test_version_names_the_version(client):
    from service import __version__

    v = (await client.get("/version")).json()
    assert v["version"] == __version__ == v["service"]


class TestWithApiKeys:
    @pytest.fixture
    def settings(self, tmp_path) -> Settings:
        keyfile = tmp_path / "keys"
        keyfile.write_text("# mounted secret\nfile-key\n")
        return Settings(api_keys=["env-key"], api_keys_file=keyfile,
                        cors_origins=["https://ui.example"])

    async def test_keys_required_except_probes(self, client):
        r = await client.post("/loss/mse", json=OK)
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert (await client.post("/loss/mse", json=OK,
                                  headers={"x-api-key": "wrong"})).status_code == 401
        ok = await client.post("/loss/mse", json=OK, headers={"authorization": "Bearer env-key"})
        assert ok.status_code == 200
        ok = await client.post("/loss/mse", json=OK, headers={"x-api-key": "file-key"})
        assert ok.status_code == 200
        # (the operations the OpenAPI document marks open: security [])
        for path in ("/healthz", "/readyz", "/metrics", "/v2/health/live", "/v2/health/ready"):
            assert (await client.get(path)).status_code == 200, path
        assert (await client.get("/losses")).status_code == 401

    async def test_cors_allows_configured_origin_only(self, client):
        pre = await client.options("/loss/mse", headers={
            "origin": "https://ui.example", "access-control-request-method": "POST"})
        assert pre.headers["access-control-allow-origin"] == "https://ui.example"
        other = await client.options("/loss/mse", headers={
            "origin": "https://evil.example", "access-control-request-method": "POST"})
        assert "access-control-allow-origin" not in other.headers

    async def test_cors_headers_are_on_errors_and_expose_the_useful_headers(self, app,
                                                                         monkeypatch):
        from service.api.routes import catalog

        def broken(*args):
            raise RuntimeError("a bug")

        monkeypatch.setattr(catalog, "_serialized", broken)  # (describe's answers are cached)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        origin = {"origin": "https://ui.example"}
        key = {**origin, "x-api-key": "env-key"}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            answers = {
                401: await c.post("/loss/mse", json=OK, headers=origin),
                422: await c.post("/loss/mse", json={"predictions": [1.0]}, headers=key),
                404: await c.get("/nope", headers=key),
                500: await c.get("/losses/mse", headers=key),
                200: await c.post("/loss/mse", json=OK, headers=key),
            }
            for status, r in answers.items():
                assert r.status_code == status, r.text
                assert r.headers["access-control-allow-origin"] == "https://ui.example", status
                exposed = {h.strip().lower() for h in
                           r.headers["access-control-expose-headers"].split(",")}
                assert exposed >= {"x-request-id", "retry-after",
                                   "inference-header-content-length"}, status
                assert r.headers["x-request-id"], status
                if status >= 400:
                    assert r.json()["request_id"] == r.headers["x-request-id"], status
            metrics = (await c.get("/metrics")).text
        assert _sample(metrics, "loss_service_requests_total", route="/losses/{name}",
                       method="GET", status="500") == 1  # the 500 is counted under its route


class TestAccessLogSample:
    @pytest.fixture
    def settings(self) -> Settings:
        return Settings(access_log_sample=0.0)

    async def test_only_errors_are_logged_at_sample_zero(self, client, caplog):
        caplog.set_level(logging.INFO, logger="service.access")
        await client.post("/loss/mse", json=OK, headers={"x-request-id": "sampled-out"})
        await client.post("/loss/mse", json={"predictions": [1.0]},
                          headers={"x-request-id": "an-error"})
        ids = [getattr(r, "request_id", None) for r in caplog.records]
        assert "an-error" in ids and "sampled-out" not in ids


def test_log_lines_are_written_by_a_thread_and_flushed_at_stop(capfd):
    from service.observability.logging import configure_logging, stop_logging

    configure_logging("info", "json")
    try:
        logging.getLogger("service.test").info("hello %s", "there", extra={"request_id": "t1"})
    finally:
        stop_logging()  # drains the queue
    line = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
    assert line["msg"] == "hello there" and line["request_id"] == "t1"
    assert line["level"] == "info" and line["ts"].endswith("Z") and len(line["ts"]) == 24


def test_a_full_log_queue_drops_and_counts_lines():
    import queue

    from service.observability import metrics
    from service.observability.logging import _QueueHandler

    handler = _QueueHandler(queue.Queue(1))
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "line", None, None)
    before = metrics.LOG_LINES_DROPPED._value.get()
    handler.handle(record)
    handler.handle(record)  # the queue holds one: this one is dropped
    assert metrics.LOG_LINES_DROPPED._value.get() == before + 1
