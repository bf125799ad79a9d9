"""ranking_softmax (optax's ranking_softmax_loss).

Oracles: golden values and ``jax.grad`` gradients recorded from optax 0.2.8 (jax 0.10.2, float64)
by ``tests/goldens/make_ranking.py`` (``tests/goldens/ranking.json``), and a reference written
here in torch ops (torch 2.13.0, float64) whose autograd gradients the analytic ones must match.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle

NAME = "ranking_softmax"
GOLDENS = json.loads((Path(__file__).parents[1] / "goldens" / "ranking.json").read_text())
REDUCTIONS = ["none", "mean", "sum"]


def _torch_fn(reduction: str):
    import torch

    def fn(predictions, targets):
        loss = -torch.sum(targets * torch.log_softmax(predictions, dim=-1), dim=-1)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


def _inputs(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 2.0) -> dict:
    y = rng.integers(0, 4, size=shape).astype(np.float64)
    y.reshape(-1, shape[-1])[0] = 0.0  # one list with no relevant item
    return {"predictions": rng.normal(size=shape) * scale, "targets": y}


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=lambda c: c["note"])
def test_optax_goldens(case):
    inputs = dict(case["inputs"])
    if "optax_weights" in case:  # optax multiplies the labels by its weights
        inputs["targets"] = (np.asarray(inputs["targets"]) * case["optax_weights"]).tolist()
    r = evaluate(NAME, inputs, reduction="none", want_grad=True)
    assert_close(r.value, case["per_list"], rtol=1e-12, atol=1e-13)
    assert_close(r.gradients["predictions"], case["grad_of_sum"]["predictions"], rtol=1e-12,
                 atol=1e-15)
    assert_close(evaluate(NAME, inputs, reduction="mean").value, case["reduced"], rtol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5, 4), (7,), (2, 3, 6), (3, 1)])
def test_matches_torch_reference(shape, reduction):
    rng = np.random.default_rng(zlib.crc32(repr((shape, reduction)).encode()))
    inputs = _inputs(rng, shape)
    inputs["targets"].reshape(-1)[-1] = 0.35  # a fractional label
    value, grads = torch_oracle(_torch_fn(reduction), inputs, ("predictions",), reduction)
    r = evaluate(NAME, inputs, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_all_zero_labels_cost_nothing():
    r = evaluate(NAME, {"predictions": [[3.0, -1.0, 1e3], [0.0, 1.0, 2.0]],
                        "targets": [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]},
                 reduction="none", want_grad=True)
    assert to_np(r.value)[0] == 0.0
    assert np.all(to_np(r.gradients["predictions"])[0] == 0.0)
    # list 1: -log softmax([0, 1, 2])_2 = log(1 + e^-1 + e^-2)
    assert_close(to_np(r.value)[1], np.log1p(np.exp(-1.0) + np.exp(-2.0)), rtol=1e-15)


def test_extreme_logits_match_torch():
    x = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -1000.0, -999.5, 1000.0]])
    y = np.array([[0.0, 1.0, 2.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    inputs = {"predictions": x, "targets": y}
    value, grads = torch_oracle(_torch_fn("sum"), inputs, ("predictions",), "sum")
    r = evaluate(NAME, inputs, reduction="sum", want_grad=True)
    assert np.isfinite(to_np(r.value))
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_shift_and_label_scaling():
    rng = np.random.default_rng(3)
    inputs = _inputs(rng, (4, 5))
    a = to_np(evaluate(NAME, inputs, reduction="none").value)
    shifted = {**inputs, "predictions": inputs["predictions"] + 123.0}
    assert_close(evaluate(NAME, shifted, reduction="none").value, a, rtol=1e-12, atol=1e-12)
    doubled = {**inputs, "targets": 2.0 * inputs["targets"]}  # labels are not normalised
    assert_close(evaluate(NAME, doubled, reduction="none").value, 2.0 * a, rtol=1e-14)


def test_on_array_api_strict(xp):
    rng = np.random.default_rng(4)
    inputs = _inputs(rng, (2, 3, 4))
    ref = evaluate(NAME, inputs, reduction="none", want_grad=True)
    got = evaluate(NAME, {k: to_xp(xp, v) for k, v in inputs.items()}, reduction="none",
                   want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    assert_close(got.gradients["predictions"], ref.gradients["predictions"], rtol=1e-13)


@pytest.mark.parametrize(("inputs", "code", "loc"), [
    ({"predictions": np.zeros((2, 3)), "targets": np.zeros((2, 4))}, "shape_mismatch",
     ("targets",)),
    ({"predictions": 1.0, "targets": 1.0}, "invalid_shape", ("predictions",)),
    ({"predictions": np.zeros((2, 3)), "targets": [[0.0, 1.0, 0.0], [2.0, -1.0, 0.0]]},
     "invalid_value", ("targets", 1, 1)),
    ({"predictions": [[0.0, np.inf]], "targets": [[0.0, 1.0]]}, "nonfinite_input",
     ("predictions", 0, 1)),
])
def test_errors(inputs, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate(NAME, inputs)
    assert exc.value.code == code and exc.value.loc == loc


def test_alias():
    r = evaluate("ranking_softmax_loss", {"predictions": [0.0, 0.0], "targets": [1.0, 0.0]})
    assert r.loss == NAME
    assert_close(r.value, np.log(2.0), rtol=1e-15)
