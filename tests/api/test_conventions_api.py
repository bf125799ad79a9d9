"""The ``convention`` parameter over HTTP: results, 422 unsupported_convention, the catalog."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

BATCH = {"predictions": [[1.0, 2.0], [3.0, 4.0]], "targets": [[0.0, 0.0], [0.0, 0.0]]}


async def _ok(client) -> None:
    """The worker is unharmed: the next valid request succeeds."""
    r = await client.post("/loss/mse", json={"predictions": [0.9], "targets": [0.0]})
    assert r.status_code == 200 and abs(r.json()["value"] - 0.81) < 1e-12


def _problem(r, code: str, loc: list) -> dict:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["code"] == code and problem["status"] == 422
    assert problem["errors"][0]["loc"] == loc
    assert problem["errors"][0]["type"] == code
    return problem


async def test_keras_convention_reduction_none_is_per_sample(client):
    r = await client.post("/loss/mse", json={**BATCH, "params": {"convention": "keras"},
                                             "reduction": "none"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["value"] == [2.5, 12.5] and body["per_sample"] == [2.5, 12.5]
    assert body["params"] == {"convention": "keras"} and body["n_samples"] == 2
    torch = await client.post("/loss/mse", json={**BATCH, "reduction": "none"})
    assert torch.json()["value"] == [[1.0, 4.0], [9.0, 16.0]]
    assert torch.json()["params"] == {"convention": "torch"}


async def test_keras_convention_weighted_mean_and_gradient(client):
    # sum_over_batch_size: (1 * 2.5 + 0 * 12.5) / 2; the torch-style mean divides by sum(w)
    body = {**BATCH, "sample_weight": [1.0, 0.0]}
    k = await client.post("/gradient/mse", json={**body, "params": {"convention": "keras"}})
    assert k.status_code == 200, k.text
    assert k.json()["value"] == 1.25
    assert k.json()["gradient"] == [[0.5, 1.0], [0.0, 0.0]]  # 2 d / (2 samples * 2 columns)
    t = await client.post("/loss/mse", json=body)
    assert t.json()["value"] == 2.5


async def test_keras_1d_input_is_one_sample(client):
    r = await client.post("/loss/l1", json={"predictions": [1.0, -2.0, 3.0],
                                            "targets": [0.0, 0.0, 0.0],
                                            "params": {"convention": "keras"},
                                            "reduction": "none"})
    assert r.status_code == 200 and r.json()["value"] == 2.0 and r.json()["n_samples"] == 1


async def test_loss_without_conventions_rejects_one(client):
    r = await client.post("/loss/smooth_l1", json={**BATCH, "params": {"convention": "torch"}})
    problem = _problem(r, "unsupported_convention", ["body", "params", "convention"])
    assert "takes no convention" in problem["errors"][0]["msg"]
    assert "takes no convention" in problem["detail"]
    await _ok(client)


async def test_loss_without_conventions_rejects_one_by_alias_route(client):
    # /loss/{name} (an alias) validates in the core: the same code and location
    r = await client.post("/loss/Smooth-L1", json={**BATCH, "params": {"convention": "keras"}})
    problem = _problem(r, "unsupported_convention", ["body", "params", "convention"])
    assert "takes no convention" in problem["detail"]
    await _ok(client)


@pytest.mark.parametrize("value", ["jax", "Keras", 1, None])
async def test_unknown_convention_is_rejected(client, value):
    r = await client.post("/loss/mse", json={**BATCH, "params": {"convention": value}})
    _problem(r, "unsupported_convention", ["body", "params", "convention"])
    await _ok(client)


async def test_unknown_convention_by_alias_route(client):
    r = await client.post("/loss/l2", json={**BATCH, "params": {"convention": "jax"}})
    problem = _problem(r, "unsupported_convention", ["body", "params", "convention"])
    assert all(c in problem["detail"] for c in ("torch", "keras", "optax", "sklearn"))
    await _ok(client)


async def test_catalog_lists_conventions(client):
    r = await client.get("/losses/mse")
    assert r.status_code == 200
    entry = r.json()
    convs = entry["conventions"]
    assert [c["name"] for c in convs] == ["torch", "keras", "optax", "sklearn"]
    assert [c["default"] for c in convs] == [True, False, False, False]
    assert all(c["reference"] and c["changes"] for c in convs)
    schema = entry["params"]["convention"]
    assert schema["default"] == "torch" and schema["enum"] == ["torch", "keras", "optax",
                                                               "sklearn"]
    none = (await client.get("/losses/smooth_l1")).json()
    assert none["conventions"] == [] and "convention" not in none["params"]
    listing = (await client.get("/losses")).json()["losses"]
    for e in listing:
        assert sum(c["default"] for c in e["conventions"]) == (1 if e["conventions"] else 0)
    await _ok(client)


async def test_sklearn_msle_rejects_values_at_or_below_minus_one(client):
    r = await client.post("/loss/msle", json={"predictions": [0.5, 1.0], "targets": [-1.0, 2.0],
                                              "params": {"convention": "sklearn"}})
    problem = _problem(r, "invalid_value", ["body", "targets", 0])
    assert "> -1" in problem["detail"]
    d = await client.post("/loss/msle", json={"predictions": [0.5, 1.0], "targets": [-1.0, 2.0]})
    _problem(d, "invalid_value", ["body", "targets", 0])  # scikit-learn's is the default
    k = await client.post("/loss/msle", json={"predictions": [0.5, 1.0], "targets": [-1.0, 2.0],
                                              "params": {"convention": "keras"}})
    assert k.status_code == 200  # Keras clips to 1e-7
    await _ok(client)


async def test_mape_convention_and_nullable_params(client):
    body = {"predictions": [2.5, 0.0], "targets": [2.0, -0.5]}
    k = await client.post("/loss/mape", json={**body, "params": {"convention": "keras"}})
    assert k.status_code == 200 and abs(k.json()["value"] - 62.5) < 1e-9
    assert k.json()["params"] == {"eps": None, "percent": None, "convention": "keras"}
    d = await client.post("/loss/mape", json=body)  # the default (issue 19): scikit-learn's
    assert d.status_code == 200 and abs(d.json()["value"] - 0.625) < 1e-12
    assert d.json()["params"] == {"eps": None, "percent": None, "convention": "sklearn"}
    s = await client.post("/loss/mape", json={**body, "params": {"convention": "sklearn"}})
    assert s.status_code == 200 and abs(s.json()["value"] - 0.625) < 1e-12
    e = await client.post("/loss/mape", json={**body, "params": {"convention": "sklearn",
                                                                 "eps": None, "percent": True}})
    assert e.status_code == 200 and abs(e.json()["value"] - 62.5) < 1e-9


async def test_losses_torch_lacks_default_to_elementwise(client):
    # issue 19: [0.3, -0.5, 2] is three samples under the default; one under convention keras
    body = {"predictions": [0.3, -0.5, 2.0], "targets": [1.0, -1.0, 1.0], "reduction": "none"}
    r = await client.post("/loss/hinge", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["n_samples"] == 3 and r.json()["params"]["convention"] == "elementwise"
    expected = [max(0.0, 1.0 - y * s) for s, y in zip(body["predictions"], body["targets"],
                                                       strict=True)]
    assert r.json()["value"] == pytest.approx(expected, rel=1e-15)
    k = await client.post("/loss/hinge", json={**body, "params": {"convention": "keras"}})
    assert k.json()["n_samples"] == 1
    assert k.json()["value"] == pytest.approx(sum(expected) / 3, rel=1e-15)
    for name, default in (("hinge", "elementwise"), ("squared_hinge", "elementwise"),
                          ("mape", "sklearn"), ("msle", "sklearn")):
        entry = (await client.get(f"/losses/{name}")).json()
        assert entry["params"]["convention"]["default"] == default
        assert [c["name"] for c in entry["conventions"] if c["default"]] == [default]
        assert "keras" in entry["params"]["convention"]["enum"]
    await _ok(client)
