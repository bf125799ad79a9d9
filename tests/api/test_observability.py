"""Request ids, security headers, metrics, structured logs, API keys and CORS (in-process)."""

from __future__ import annotations

import json
import logging

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
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(path)).status_code == 200
        assert (await client.get("/losses")).status_code == 401

    async def test_cors_allows_configured_origin_only(self, client):
        pre = await client.options("/loss/mse", headers={
            "origin": "https://ui.example", "access-control-request-method": "POST"})
        assert pre.headers["access-control-allow-origin"] == "https://ui.example"
        other = await client.options("/loss/mse", headers={
            "origin": "https://evil.example", "access-control-request-method": "POST"})
        assert "access-control-allow-origin" not in other.headers
