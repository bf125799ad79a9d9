"""Warnings over HTTP (issue 19, item 1): a 200 with torch's number and ``warnings`` by default,
the 422 of the same code and location with ``"validate": "strict"`` or the server setting, and
/compare (grading) strict whatever the setting."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest

from service.config import Settings
from service.losses import evaluate
from service.main import create_app

pytestmark = pytest.mark.anyio

X = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.2]]
ROWS = [[0.5, 0.9, 0.1], [0.2, 0.3, 0.5]]  # the first row sums to 1.5
BODY = {"predictions": X, "targets": ROWS, "params": {"weight": [1.0, -1.0, 2.0]}}
EXPECTED = [
    {"code": "invalid_param", "loc": ["body", "params", "weight", 1]},
    {"code": "probability_rows_not_normalized", "loc": ["body", "targets", 0]},
]


def _codes(warnings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"code": w["code"], "loc": w["loc"]} for w in warnings]


async def test_lenient_by_default_answers_with_warnings(client: Any) -> None:
    r = await client.post("/gradient/cross_entropy", json=BODY)
    assert r.status_code == 200, r.text
    out = r.json()
    assert _codes(out["warnings"]) == EXPECTED
    assert all(w["detail"] for w in out["warnings"])
    ref = evaluate("cross_entropy", {"predictions": X, "targets": ROWS}, BODY["params"],
                   want_grad=True, validate="lenient")
    assert out["value"] == float(ref.value)
    np.testing.assert_array_equal(out["gradient"], ref.gradients["predictions"])


async def test_a_clean_request_has_no_warnings_field(client: Any) -> None:
    r = await client.post("/loss/cross_entropy", json={"predictions": X, "targets": [0, 2]})
    assert r.status_code == 200 and "warnings" not in r.json()


async def test_strict_turns_the_first_warning_into_its_422(client: Any) -> None:
    r = await client.post("/loss/cross_entropy", json={**BODY, "validate": "strict"})
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == EXPECTED[0]["code"]
    assert problem["errors"][0]["loc"] == EXPECTED[0]["loc"]


async def test_an_unknown_mode_is_a_field_error(client: Any) -> None:
    r = await client.post("/loss/cross_entropy", json={**BODY, "validate": "loose"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "validate"]


async def _client(settings: Settings) -> Any:
    app = create_app(settings)
    return app, httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                  base_url="http://testserver")


async def test_the_server_setting_is_the_default_and_a_request_overrides_it() -> None:
    app, client = await _client(Settings(validation="strict", fused=False))
    async with app.router.lifespan_context(app), client:
        r = await client.post("/loss/soft_margin", json={"predictions": [0.5, 1.5],
                                                         "targets": [1, 0]})
        assert r.status_code == 422 and r.json()["code"] == "invalid_label"
        assert r.json()["errors"][0]["loc"] == ["body", "targets", 1]
        r = await client.post("/loss/soft_margin", json={"predictions": [0.5, 1.5],
                                                         "targets": [1, 0],
                                                         "validate": "lenient"})
        assert r.status_code == 200 and _codes(r.json()["warnings"]) == [
            {"code": "invalid_label", "loc": ["body", "targets", 1]}]


async def test_compare_stays_strict(client: Any) -> None:
    r = await client.post("/compare", json={"loss": "cross_entropy", **BODY,
                                            "submission": {"value": 0.0}})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_param"


async def test_the_inference_protocol_reports_warnings_and_takes_validate(client: Any) -> None:
    import json

    body = {"inputs": [
        {"name": "predictions", "shape": [2], "datatype": "FP64", "data": [0.5, 1.5]},
        {"name": "targets", "shape": [2], "datatype": "FP64", "data": [1.0, 0.0]}]}
    r = await client.post("/v2/models/soft_margin/infer", json=body)
    assert r.status_code == 200, r.text
    warnings = json.loads(r.json()["parameters"]["warnings"])
    assert [(w["code"], w["loc"]) for w in warnings] == [("invalid_label", ["targets", 1])]
    r = await client.post("/v2/models/soft_margin/infer",
                          json={**body, "parameters": {"validate": "strict"}})
    assert r.status_code == 400 and "targets must be in" in r.json()["error"]


async def test_an_undefined_mean_is_nan_with_a_warning_and_strict_refuses_it(client: Any) -> None:
    # every target ignored: torch answers NaN (0 / 0) and a zero gradient
    body = {"predictions": X, "targets": [-100, -100]}
    r = await client.post("/gradient/cross_entropy", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["value"] == "NaN" and out["per_sample"] == [0.0, 0.0]
    assert _codes(out["warnings"]) == [{"code": "undefined_mean", "loc": ["body", "reduction"]}]
    assert not np.any(out["gradient"])  # an ignored target's gradient is 0, as torch's
    torch = pytest.importorskip("torch")
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    value = torch.nn.functional.cross_entropy(x, torch.tensor([-100, -100]))
    value.backward()
    assert bool(torch.isnan(value))
    np.testing.assert_array_equal(out["gradient"], x.grad.numpy())
    r = await client.post("/gradient/cross_entropy", json={**body, "validate": "strict"})
    assert r.status_code == 422 and r.json()["code"] == "undefined_mean"
    assert r.json()["errors"][0]["loc"] == ["body", "reduction"]
