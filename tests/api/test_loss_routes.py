"""/loss and /gradient over HTTP: values equal the core's, every route, reduction and encoding."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import LOSSES, SPECS, evaluate, get_loss
from service.main import create_app
from service.transport.json_out import encode_array, wire_to_array
from tests.conftest import assert_close, sample

pytestmark = pytest.mark.anyio

NAMES = sorted(LOSSES)
DIFFERENTIABLE = [s.name for s in SPECS if s.differentiable]


def body_for(name: str, inputs: dict, params: dict, **extra) -> dict:
    body: dict = {"params": params, **extra}
    others = {}
    for k, v in inputs.items():
        v = np.asarray(v).tolist()
        if k in ("predictions", "targets"):
            body[k] = v
        else:
            others[k] = v
    if others:
        body["inputs"] = others
    return body


def test_one_route_pair_per_loss():
    doc = create_app().openapi()
    ops = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    for spec in SPECS:
        assert f"loss-{spec.name}" in ops
        assert (f"gradient-{spec.name}" in ops) == spec.differentiable


@pytest.mark.parametrize("name", NAMES)
async def test_every_openapi_example_succeeds(client, name):
    doc = (await client.get("/openapi.json")).json()
    kinds = ["loss", "gradient"] if get_loss(name).differentiable else ["loss"]
    for kind in kinds:
        op = doc["paths"][f"/{kind}/{name}"]["post"]
        examples = op["requestBody"]["content"]["application/json"]["examples"]
        assert examples
        for ex in examples.values():
            r = await client.post(f"/{kind}/{name}", json=ex["value"])
            assert r.status_code == 200, r.text
            data = r.json()
            assert data["loss"] == name
            if kind == "gradient":
                body = ex["value"]
                given = {*body.get("inputs", {}), *(k for k in ("predictions", "targets")
                                                    if k in body)}
                assert set(data["gradients"]) == set(get_loss(name).differentiable_inputs) & given


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", NAMES)
async def test_values_equal_the_core(client, name, reduction):
    spec = get_loss(name)
    if reduction not in spec.reductions:
        pytest.skip("reduction not supported")
    inputs, params = sample(name, seed=3)
    kind = "gradient" if spec.differentiable else "loss"
    r = await client.post(f"/{kind}/{name}", json=body_for(name, inputs, params,
                                                            reduction=reduction))
    assert r.status_code == 200, r.text
    data = r.json()
    core = evaluate(name, inputs, params, reduction=reduction, want_grad=spec.differentiable)
    assert_close(wire_to_array(data["value"]), core.value, rtol=0, atol=0)
    assert_close(wire_to_array(data["per_sample"]), core.per_sample, rtol=0, atol=0)
    assert data["n_samples"] == core.n_samples
    assert data["reduction"] == reduction and data["dtype"] == "float64"
    assert data["backend"] == "numpy"
    assert data["params"] == core.params
    for k, g in (core.gradients or {}).items():
        assert_close(wire_to_array(data["gradients"][k]), g, rtol=0, atol=0)
    if "predictions" in (core.gradients or {}):
        assert data["gradient"] == data["gradients"]["predictions"]


@pytest.mark.parametrize("name", DIFFERENTIABLE)
async def test_b64_in_and_out_equals_json(client, name):
    inputs, params = sample(name, seed=4)
    plain = (await client.post(f"/gradient/{name}", json=body_for(name, inputs, params))).json()
    b64_inputs = {}
    for k, v in inputs.items():
        a = np.asarray(v)
        b64_inputs[k] = encode_array(a.astype(np.int64) if a.dtype.kind in "iu" else a, "b64")
    body = body_for(name, {}, params, encoding="b64")
    for k, v in b64_inputs.items():
        if k in ("predictions", "targets"):
            body[k] = v
        else:
            body.setdefault("inputs", {})[k] = v
    r = await client.post(f"/gradient/{name}", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert isinstance(data["per_sample"], dict) and "b64" in data["per_sample"]
    assert_close(wire_to_array(data["per_sample"]), wire_to_array(plain["per_sample"]), 0, 0)
    for k in plain["gradients"]:
        assert_close(wire_to_array(data["gradients"][k]), wire_to_array(plain["gradients"][k]),
                     0, 0)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
async def test_omit_leaves_out_per_sample_and_the_gradient_copy(client, name):
    inputs, params = sample(name, seed=6)
    full = (await client.post(f"/gradient/{name}", json=body_for(name, inputs, params))).json()
    for omit in (["per_sample"], ["gradient"], ["gradient", "per_sample"]):
        r = await client.post(f"/gradient/{name}",
                              json=body_for(name, inputs, params, omit=omit))
        assert r.status_code == 200, r.text
        data = r.json()
        for field in ("per_sample", "gradient"):
            assert (field in data) == (field not in omit and field in full), (field, omit)
        # everything else as without omit, to the last bit
        assert {k: v for k, v in data.items() if k not in omit} == {
            k: v for k, v in full.items() if k not in omit}


async def test_omit_is_validated_and_ignored_where_there_is_nothing_to_omit(client):
    body = {"predictions": [1.0, 2.0], "targets": [0.0, 0.0]}
    r = await client.post("/loss/mse", json={**body, "omit": ["gradient"]})
    assert r.status_code == 200 and r.json()["per_sample"] == [1.0, 4.0]
    r = await client.post("/loss/mse", json={**body, "omit": ["value"]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"][:3] == ["body", "omit", 0]
    r = await client.post("/loss/mse", json={**body, "omit": "per_sample"})
    assert r.status_code == 422


async def test_omit_does_not_hide_booleans_or_make_b64_bodies_scanned(client):
    from service.transport.json_in import holds_lists

    r = await client.post("/loss/mse", json={"predictions": [1.0, True], "targets": [0.0, 0.0],
                                             "omit": ["per_sample"]})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "predictions", 1]
    # a b64 body with omit holds no JSON-number arrays: no scan of it for true/false tokens
    tensor = encode_array(np.zeros(3), "b64")
    assert not holds_lists({"predictions": tensor, "targets": tensor, "omit": ["gradient"]})
    assert holds_lists({"predictions": tensor, "inputs": {"var": [1.0]}})
    assert holds_lists({"predictions": tensor, "sample_weight": {"shape": [1], "data": [1]}})
    # /compare: the submission's arrays count, its other booleans do not
    assert holds_lists({"predictions": tensor, "submission": {"gradients": {"W": [1.0]}}})
    assert not holds_lists({"predictions": tensor, "submission": {"gradient": tensor},
                            "include_reference": True})


async def test_tensor_data_objects(client):
    body = {"predictions": {"shape": [2, 2], "dtype": "float32", "data": [1, 2, 3, 4]},
            "targets": {"shape": [2, 2], "data": [0.0, 0.0, 0.0, 0.0]}, "reduction": "sum"}
    r = await client.post("/gradient/mse", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["value"] == 30.0
    assert r.json()["gradient"] == [[2.0, 4.0], [6.0, 8.0]]


@pytest.mark.parametrize("name", NAMES)
async def test_aliases_resolve_over_http(client, name):
    spec = get_loss(name)
    inputs, params = sample(name, seed=5)
    for alias in spec.aliases:
        r = await client.post(f"/loss/{alias}", json=body_for(name, inputs, params))
        assert r.status_code == 200, r.text
        assert r.json()["loss"] == name


async def test_inputs_may_hold_predictions_and_targets(client):
    r = await client.post("/loss/mse", json={"inputs": {"predictions": [1.0, 2.0],
                                                        "targets": [0.0, 0.0]}})
    assert r.status_code == 200 and r.json()["value"] == 2.5


async def test_float32_on_request(client):
    r = await client.post("/gradient/mse", json={"predictions": [0.1, 0.2], "targets": [0, 0],
                                                 "dtype": "float32", "reduction": "sum"})
    data = r.json()
    assert data["dtype"] == "float32"
    expected = np.float32(0.1) ** 2 + np.float32(0.2) ** 2
    assert data["value"] == pytest.approx(float(expected), rel=1e-7)


async def test_sample_weight(client):
    r = await client.post("/loss/mse", json={"predictions": [1.0, 2.0], "targets": [0.0, 0.0],
                                             "sample_weight": [3.0, 1.0]})
    assert r.json()["value"] == pytest.approx((3 * 1 + 1 * 4) / 4)
    assert r.json()["per_sample"] == [3.0, 4.0]


async def test_nonfinite_results_are_strings_not_null(client):
    # huge inputs overflow the square: the result is the string "Infinity", valid JSON
    r = await client.post("/loss/mse", json={"predictions": [1e200, 1.0], "targets": [0, 0],
                                             "reduction": "none"})
    assert r.status_code == 200
    assert r.json()["value"] == ["Infinity", 1.0]
    assert r.json()["per_sample"] == ["Infinity", 1.0]
    r = await client.post("/loss/mse", json={"predictions": [1e200], "targets": [0]})
    assert r.json()["value"] == "Infinity"


def test_loss_requests_are_matched_by_two_routes_and_every_loss_is_documented():
    """Routing does not scan one route per loss (issue 22); the document keeps one operation
    per loss and kind, each answered by the name routes."""
    from service.api.routes import losses as routes

    assert sorted(r.path for r in routes.router.routes) == ["/gradient/{name}", "/loss/{name}"]
    paths = create_app().openapi()["paths"]
    for spec in LOSSES.values():
        assert "post" in paths[f"/loss/{spec.name}"]
        assert ("post" in paths.get(f"/gradient/{spec.name}", {})) == spec.differentiable
