"""linear_softmax over HTTP with PyTorch linear_cross_entropy's options (issue 19, item 5): one
/gradient request with class weights, an ignored target, label smoothing, a bias and a penalty,
checked against torch autograd; probability targets (a warning by default, 422 under strict) and
a K-dimensional W; a wrong weight length as a located 422."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.anyio

RNG = np.random.default_rng(19_5)
W = RNG.normal(size=(3, 4))  # (D, C); torch's linear_weight is W.T
X = RNG.normal(size=(6, 3))
B = RNG.normal(size=4)
Y = [0, 3, 1, -100, 2, 3]
PARAMS = {"weight": [0.5, 2.0, 1.0, 1.5], "ignore_index": -100, "label_smoothing": 0.1,
          "reg": 0.25}


async def test_gradient_with_linear_cross_entropy_options_matches_torch(client: Any) -> None:
    torch = pytest.importorskip("torch")
    body = {"targets": Y, "inputs": {"W": W.tolist(), "X": X.tolist(), "b": B.tolist()},
            "params": PARAMS}
    r = await client.post("/gradient/linear_softmax", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert not out.get("warnings")

    wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(B, requires_grad=True)
    data = torch.nn.functional.linear_cross_entropy(
        torch.tensor(X), wt.T, torch.tensor(Y), linear_bias=bt,
        weight=torch.tensor(PARAMS["weight"], dtype=torch.float64), ignore_index=-100,
        label_smoothing=0.1)
    loss = data + 0.25 * (wt * wt).sum()  # mean: torch's mean plus the penalty R
    gw, gb = torch.autograd.grad(loss, [wt, bt])
    np.testing.assert_allclose(out["value"], loss.item(), rtol=1e-10)
    np.testing.assert_allclose(np.array(out["gradients"]["W"]), gw.numpy(), rtol=1e-10,
                               atol=1e-13)
    np.testing.assert_allclose(np.array(out["gradients"]["b"]), gb.numpy(), rtol=1e-10,
                               atol=1e-13)
    assert out["per_sample"][3] == 0.0  # the ignored sample: no loss, no penalty


async def test_k_dimensional_w_and_probability_targets(client: Any) -> None:
    torch = pytest.importorskip("torch")
    w = RNG.normal(size=(3, 4, 2))  # (D, C, d1)
    t = RNG.uniform(0.1, 0.9, size=(6, 4, 2))
    t = t / t.sum(axis=1, keepdims=True)
    body = {"targets": t.tolist(), "inputs": {"W": w.tolist(), "X": X.tolist()},
            "params": {"label_smoothing": 0.2}, "reduction": "none"}
    r = await client.post("/gradient/linear_softmax", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    wt = torch.tensor(w, requires_grad=True)
    loss = torch.nn.functional.linear_cross_entropy(
        torch.tensor(X), torch.movedim(wt, 0, -1), torch.tensor(t), reduction="none",
        label_smoothing=0.2)
    (gw,) = torch.autograd.grad(loss.sum(), [wt])
    np.testing.assert_allclose(np.array(out["value"]), loss.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(np.array(out["gradients"]["W"]), gw.numpy(), rtol=1e-10,
                               atol=1e-13)


async def test_probability_rows_warn_by_default_and_422_under_strict(client: Any) -> None:
    rows = [[0.5, 0.2, 0.2, 0.0]] * 6  # each sums to 0.9
    body = {"targets": rows, "inputs": {"W": W.tolist(), "X": X.tolist()}}
    r = await client.post("/gradient/linear_softmax", json=body)
    assert r.status_code == 200, r.text
    assert [(w["code"], w["loc"]) for w in r.json()["warnings"]] == [
        ("probability_rows_not_normalized", ["body", "targets", 0])]
    r = await client.post("/gradient/linear_softmax", json={**body, "validate": "strict"})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "probability_rows_not_normalized"
    assert r.json()["errors"][0]["loc"] == ["body", "targets", 0]


async def test_wrong_weight_length_is_a_located_422(client: Any) -> None:
    body = {"targets": [0, 1, 2, 3, 0, 1], "inputs": {"W": W.tolist(), "X": X.tolist()},
            "params": {"weight": [1.0, 2.0, 3.0]}}
    r = await client.post("/gradient/linear_softmax", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_param"
    assert r.json()["errors"][0]["loc"] == ["body", "params", "weight"]
