"""``wrt`` over HTTP: the gradients a /gradient request asks for, its 422s, the catalog's list."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import LOSSES, evaluate
from service.transport.json_out import wire_to_array

pytestmark = pytest.mark.anyio

MSE = {"predictions": [[1.0, 2.0], [3.0, 4.0]], "targets": [[1.5, 2.0], [2.0, 4.5]]}


async def test_wrt_returns_the_named_gradients_in_order(client):
    body = {**MSE, "sample_weight": [0.5, 2.0], "reduction": "mean",
            "wrt": ["targets", "predictions"]}
    r = await client.post("/gradient/mse", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert list(data["gradients"]) == ["targets", "predictions"]
    core = evaluate("mse", {k: MSE[k] for k in MSE}, reduction="mean",
                    sample_weight=[0.5, 2.0], want_grad=True, wrt=["targets", "predictions"])
    for k in ("targets", "predictions"):
        np.testing.assert_array_equal(wire_to_array(data["gradients"][k]), core.gradients[k])
    np.testing.assert_array_equal(wire_to_array(data["gradients"]["targets"]),
                                  -wire_to_array(data["gradients"]["predictions"]))
    assert data["gradient"] == data["gradients"]["predictions"]
    # without wrt: the default gradients only, as before
    plain = (await client.post("/gradient/mse", json={**MSE})).json()
    assert list(plain["gradients"]) == ["predictions"]


async def test_wrt_without_predictions_leaves_the_copy_out(client):
    r = await client.post("/gradient/l2", json={**MSE, "wrt": ["targets"],
                                                "encoding": "b64"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert list(data["gradients"]) == ["targets"] and "gradient" not in data
    assert np.allclose(wire_to_array(data["gradients"]["targets"]),
                       [[0.25, 0.0], [-0.5, 0.25]])


async def test_cross_entropy_probability_targets(client):
    body = {"predictions": [[1.0, 2.0, 0.5]], "targets": [[0.2, 0.5, 0.3]],
            "wrt": ["predictions", "targets"], "params": {"label_smoothing": 0.1}}
    r = await client.post("/gradient/cross_entropy", json=body)
    assert r.status_code == 200, r.text
    g = wire_to_array(r.json()["gradients"]["targets"])
    x = np.array([1.0, 2.0, 0.5])
    logp = x - np.log(np.sum(np.exp(x)))
    np.testing.assert_allclose(g, [-(1 - 0.1) * logp], rtol=1e-14)


@pytest.mark.parametrize(("path", "body", "index", "words"), [
    # integer class indices: cross_entropy has a targets gradient only for probabilities
    ("/gradient/cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [1],
                                 "wrt": ["predictions", "targets"]}, 1, "integer class"),
    ("/gradient/nll", {"predictions": [[-0.5, -1.0]], "targets": [0], "wrt": ["targets"]},
     0, "wrt may name: predictions"),
    ("/gradient/soft_margin", {"predictions": [0.5], "targets": [1.0], "wrt": ["targets"]},
     0, "wrt may name: predictions"),
    ("/gradient/cross_entropy", {"predictions": [[1.0, 2.0]], "targets": [1],
                                 "wrt": ["predictions", "logits"]}, 1, "has no input"),
])
async def test_wrt_naming_an_input_without_a_gradient_is_a_located_422(client, path, body,
                                                                     index, words):
    r = await client.post(path, json=body)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["loc"] == ["body", "wrt", index]
    assert words in problem["detail"]
    code = "unknown_input" if words == "has no input" else "not_differentiable"
    assert problem["code"] == code


async def test_wrt_is_a_list_of_names(client):
    for wrt in ("targets", [], [1]):
        r = await client.post("/gradient/mse", json={**MSE, "wrt": wrt})
        assert r.status_code == 422, (wrt, r.text)
        assert r.json()["errors"][0]["loc"][:2] == ["body", "wrt"]
    # a loss without a gradient takes no wrt at all
    r = await client.post("/loss/zero_one", json={"predictions": [1], "targets": [1],
                                                  "wrt": ["predictions"]})
    assert r.status_code == 422


async def test_catalog_lists_what_wrt_may_name(client):
    mse = (await client.get("/losses/mse")).json()
    assert mse["wrt"] == ["predictions", "targets"]
    assert [i["grad_on_request"] for i in mse["inputs"]] == [False, True]
    assert (await client.get("/losses/nll")).json()["wrt"] == ["predictions"]
    g = (await client.get("/losses/gaussian_nll")).json()
    assert g["wrt"] == ["predictions", "targets", "var"]
    catalog = (await client.get("/losses")).json()
    entries = catalog["losses"] if isinstance(catalog, dict) else catalog
    assert {e["name"]: e["wrt"] for e in entries} == {
        n: list(s.wrt_inputs) for n, s in LOSSES.items()}


def test_openapi_documents_wrt():
    from service.main import create_app

    doc = create_app().openapi()
    schemas = doc["components"]["schemas"]
    field = schemas["MseRequest"]["properties"]["wrt"]
    assert field["anyOf"][0]["items"]["enum"] == ["predictions", "targets"]
    assert "wrt" not in schemas["ZeroOneRequest"]["properties"]
    assert "wrt" in schemas["GenericRequest"]["properties"]


async def test_the_python_client_sends_wrt(app):
    import httpx

    from service.client import AsyncLossClient

    async with AsyncLossClient("http://testserver",
                               transport=httpx.ASGITransport(app=app)) as lc:
        x, y, v = np.array([[0.5, 2.0]]), np.array([[0.0, 1.0]]), np.array([[1.0, 0.5]])
        r = await lc.gradient("gaussian_nll", x, y, inputs={"var": v}, reduction="sum",
                              wrt=["targets", "var"])
        assert list(r.gradients) == ["targets", "var"]
        np.testing.assert_allclose(r.gradients["targets"], [[-0.5, -2.0]])
        np.testing.assert_allclose(r.gradients["var"], [[0.375, -1.0]])
        plain = await lc.gradient("gaussian_nll", x, y, inputs={"var": v})
        assert list(plain.gradients) == ["predictions", "var"]
