"""dice and tversky (Keras's formulas, per sample).

Oracles: golden values and ``jax.grad`` gradients recorded from Keras 3.15.1 (jax backend,
float64) by ``tests/goldens/make_overlap.py`` (``tests/goldens/overlap.json``), and references
written here in torch ops (torch 2.13.0, float64) whose autograd gradients the analytic ones must
match.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest

from service.losses import LossError, evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle

GOLDENS = json.loads((Path(__file__).parents[1] / "goldens" / "overlap.json").read_text())
REDUCTIONS = ["none", "mean", "sum"]
EPS = 1e-7  # keras.backend.epsilon()


def _torch_fn(name: str, reduction: str, alpha: float = 0.5, beta: float = 0.5):
    import torch

    def fn(predictions, targets):
        axes = tuple(range(1, predictions.ndim))
        inter = torch.sum(targets * predictions, dim=axes)
        if name == "dice":
            loss = 1.0 - 2.0 * inter / (targets.sum(dim=axes) + predictions.sum(dim=axes) + EPS)
        else:  # Keras: alpha on sum(y (1 - x)), beta on sum((1 - y) x)
            fn_mass = torch.sum(targets * (1.0 - predictions), dim=axes)
            fp_mass = torch.sum((1.0 - targets) * predictions, dim=axes)
            loss = 1.0 - inter / (inter + alpha * fn_mass + beta * fp_mass + EPS)
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]

    return fn


def _inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> dict:
    y = (rng.uniform(size=shape) < 0.4).astype(np.float64)
    y.reshape(-1)[0] = 0.3  # a soft target
    return {"predictions": rng.uniform(size=shape), "targets": y}


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=lambda c: f"{c['loss']}: {c['note']}")
def test_keras_goldens(case):
    name, params = case["loss"], case["params"]
    r = evaluate(name, case["inputs"], params, reduction="none", want_grad=True)
    assert_close(r.value, case["per_sample"], rtol=1e-12, atol=1e-15)
    assert_close(r.gradients["predictions"], case["grad_of_sum"]["predictions"], rtol=1e-12,
                 atol=1e-15)
    assert_close(evaluate(name, case["inputs"], params).value, case["reduced"], rtol=1e-12)
    # Keras's default axis=None treats the whole batch as one sample: send it as (1, N, ...)
    whole = {k: np.asarray(v)[None] for k, v in case["inputs"].items()}
    assert_close(evaluate(name, whole, params).value, case["keras_axis_none"], rtol=1e-12)


PARAMS = [("dice", {}), ("tversky", {}), ("tversky", {"alpha": 0.7, "beta": 0.3}),
          ("tversky", {"alpha": 0.0, "beta": 2.0})]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 6), (3, 2, 5), (2, 3, 3, 2), (1, 7)])
@pytest.mark.parametrize(("name", "params"), PARAMS, ids=repr)
def test_matches_torch_reference(name, params, shape, reduction):
    rng = np.random.default_rng(zlib.crc32(repr((name, params, shape, reduction)).encode()))
    inputs = _inputs(rng, shape)
    value, grads = torch_oracle(_torch_fn(name, reduction, **params), inputs, ("predictions",),
                                reduction)
    r = evaluate(name, inputs, params, reduction=reduction, want_grad=True)
    assert to_np(r.value).shape == np.shape(value)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


@pytest.mark.parametrize(("name", "params"), PARAMS, ids=repr)
def test_edge_masks_match_torch(name, params):
    # empty target and prediction (loss 1), perfect hard match (about 0), all-ones vs all-zeros,
    # predictions at exactly 0 and 1
    x = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1e-300, 0.5]])
    y = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    inputs = {"predictions": x, "targets": y}
    value, grads = torch_oracle(_torch_fn(name, "none", **params), inputs, ("predictions",),
                                "none")
    r = evaluate(name, inputs, params, reduction="none", want_grad=True)
    loss = to_np(r.value)
    assert loss[0] == 1.0 and loss[2] == 1.0 and 0.0 <= loss[1] < 1e-7
    assert np.all(np.isfinite(to_np(r.gradients["predictions"])))
    assert_close(loss, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_tversky_alpha_weighs_false_negatives():
    # prediction misses 2 target pixels (FN mass 2) and adds 1 spurious pixel (FP mass 1)
    x = np.array([[1.0, 0.0, 0.0, 1.0]])
    y = np.array([[1.0, 1.0, 1.0, 0.0]])
    inputs = {"predictions": x, "targets": y}
    r = evaluate("tversky", inputs, {"alpha": 1.0, "beta": 0.0}, reduction="none")
    assert_close(r.value, [1.0 - 1.0 / (1.0 + 2.0 + EPS)], rtol=1e-15)  # alpha * FN
    r = evaluate("tversky", inputs, {"alpha": 0.0, "beta": 1.0}, reduction="none")
    assert_close(r.value, [1.0 - 1.0 / (1.0 + 1.0 + EPS)], rtol=1e-15)  # beta * FP


def test_tversky_half_half_is_dice_up_to_eps():
    rng = np.random.default_rng(5)
    inputs = _inputs(rng, (3, 8))
    t = to_np(evaluate("tversky", inputs, reduction="none").value)
    y, x = inputs["targets"], inputs["predictions"]
    expected = 1.0 - 2.0 * np.sum(x * y, 1) / (y.sum(1) + x.sum(1) + 2 * EPS)
    assert_close(t, expected, rtol=1e-14)
    d = to_np(evaluate("dice", inputs, reduction="none").value)
    assert_close(t, d, rtol=1e-6)


@pytest.mark.parametrize("name", ["dice", "tversky"])
def test_on_array_api_strict(xp, name):
    rng = np.random.default_rng(6)
    inputs = _inputs(rng, (2, 3, 4))
    params = {"alpha": 0.3, "beta": 0.9} if name == "tversky" else {}
    ref = evaluate(name, inputs, params, reduction="none", want_grad=True)
    got = evaluate(name, {k: to_xp(xp, v) for k, v in inputs.items()}, params, reduction="none",
                   want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    assert_close(got.gradients["predictions"], ref.gradients["predictions"], rtol=1e-13)


@pytest.mark.parametrize("name", ["dice", "tversky"])
@pytest.mark.parametrize(("inputs", "code", "loc"), [
    ({"predictions": np.zeros((2, 3)), "targets": np.zeros((2, 4))}, "shape_mismatch",
     ("targets",)),
    ({"predictions": np.zeros(3), "targets": np.zeros(3)}, "invalid_shape", ("predictions",)),
    ({"predictions": [[0.5, 1.2], [0.0, 0.1]], "targets": np.zeros((2, 2))},
     "probability_out_of_range", ("predictions", 0, 1)),
    ({"predictions": np.zeros((2, 2)), "targets": [[0.0, 1.0], [-0.1, 1.0]]},
     "probability_out_of_range", ("targets", 1, 0)),
    ({"predictions": [[0.5, np.nan]], "targets": [[0.0, 1.0]]}, "nonfinite_input",
     ("predictions", 0, 1)),
])
def test_errors(name, inputs, code, loc):
    with pytest.raises(LossError) as exc:
        evaluate(name, inputs)
    assert exc.value.code == code and exc.value.loc == loc


@pytest.mark.parametrize("params", [{"alpha": -0.1}, {"beta": -1.0}, {"alpha": "0.5"}])
def test_tversky_invalid_params(params):
    with pytest.raises(LossError) as exc:
        evaluate("tversky", {"predictions": [[0.5]], "targets": [[1.0]]}, params)
    assert exc.value.code == "invalid_param"
    assert exc.value.loc == ("params", next(iter(params)))


def test_aliases():
    inputs = {"predictions": [[0.5, 0.5]], "targets": [[1.0, 0.0]]}
    assert evaluate("dice_loss", inputs).loss == "dice"
    assert evaluate("tversky_loss", inputs).loss == "tversky"
