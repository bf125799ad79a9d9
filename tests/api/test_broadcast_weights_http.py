"""A nested-list weight over HTTP (issue 19, item 1): BCE-with-logits' weight and pos_weight as
(N, C) / (1, C) / (N, 1) nested lists give torch's value and gradient; one that does not broadcast
to the predictions' shape is a 422 ``invalid_param`` at ``["body", "params", name]``."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.anyio

X = [[1.5, -0.5, 0.3], [-2.0, 0.2, 1.1]]
Y = [[1.0, 0.0, 0.4], [0.0, 1.0, 1.0]]


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(2, 3), (1, 3), (2, 1)], ids=str)
async def test_a_nested_list_weight_matches_torch(client, shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(len(shape) + shape[0] * 10 + shape[1])
    w, c = rng.uniform(0.5, 2.0, shape), rng.uniform(0.5, 2.0, shape)
    r = await client.post("/gradient/binary_cross_entropy_with_logits", json={
        "predictions": X, "targets": Y, "params": {"weight": w.tolist(), "pos_weight": c.tolist()},
        "reduction": "mean"})
    assert r.status_code == 200, r.text
    xt = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.binary_cross_entropy_with_logits(
        xt, torch.tensor(Y, dtype=torch.float64), weight=torch.tensor(w),
        pos_weight=torch.tensor(c))
    out.backward()
    body = r.json()
    assert np.isclose(body["value"], out.item(), rtol=1e-12)
    assert np.allclose(body["gradients"]["predictions"], xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["weight", "pos_weight"])
async def test_a_weight_that_does_not_broadcast_is_a_located_422(client, name):
    r = await client.post("/loss/binary_cross_entropy_with_logits", json={
        "predictions": X, "targets": Y, "params": {name: [[1.0, 2.0], [3.0, 4.0]]}})
    assert r.status_code == 422, r.text
    err = r.json()["errors"][0]
    assert err["type"] == "invalid_param" and err["loc"] == ["body", "params", name]
    assert "(2, 2)" in err["msg"] and "(2, 3)" in err["msg"]


async def test_multilabel_soft_margin_takes_a_per_sample_weight(client):
    r = await client.post("/loss/multilabel_soft_margin", json={
        "predictions": X, "targets": Y, "params": {"weight": [[1.0], [2.0]]},
        "reduction": "none"})
    assert r.status_code == 200, r.text
    plain = await client.post("/loss/multilabel_soft_margin", json={
        "predictions": X, "targets": Y, "reduction": "none"})
    assert np.allclose(r.json()["value"], np.array(plain.json()["value"]) * [1.0, 2.0])


async def test_compare_takes_a_nested_list_weight(client):
    # /compare's strict request model takes the same nested list
    r = await client.post("/compare", json={
        "loss": "binary_cross_entropy_with_logits", "predictions": X, "targets": Y,
        "params": {"weight": [[1, 2.0, 0.5]]}, "submission": {"value": 0.0}})
    assert r.status_code == 200, r.text
