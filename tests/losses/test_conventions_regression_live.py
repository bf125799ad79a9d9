"""The ``torch`` and ``sklearn`` conventions of mse, l1, huber, mape and msle against the libraries
run live: torch 2.13.0 (``torch.nn.functional``, float64, autograd) for ``torch``, its ``weight``
as our sample weights; scikit-learn 1.9.1 (``sklearn.metrics``) for ``sklearn`` values, with
gradients from the same formulas written in torch ops (autograd) and finite differences; msle's
refusal of values at or below -1, and l1's kink in every convention.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, finite_difference, to_np, torch_oracle
from tests.losses.conventions_support import regression_inputs
from tests.losses.support import F64_EPS, REDUCTIONS, loss_error, rng_for

# ------------------------------------------------------------------------- torch, live


def _torch_fn(name: str, reduction: str, delta: float = 1.0, weight=None):
    import torch.nn.functional as F

    def fn(predictions, targets):
        kw = {} if weight is None else {"weight": _t(weight, predictions)}
        if name == "mse":
            return F.mse_loss(predictions, targets, reduction=reduction, **kw)
        if name == "l1":
            return F.l1_loss(predictions, targets, reduction=reduction, **kw)
        return F.huber_loss(predictions, targets, reduction=reduction, delta=delta, **kw)
    return fn


def _t(a, like):
    import torch

    return torch.as_tensor(np.asarray(a), dtype=like.dtype)


@pytest.mark.parametrize("explicit", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (7,), (4, 3), (2, 3, 4)])
@pytest.mark.parametrize(("name", "params"), [("mse", {}), ("l1", {}), ("huber", {}),
                                              ("huber", {"delta": 0.4})])
def test_torch_convention_matches_torch(name, params, shape, reduction, explicit):
    inputs = regression_inputs(name, shape, rng_for("torch", name, params, shape, reduction))
    if name == "huber":
        inputs["predictions"] = np.where(
            np.abs(np.abs(inputs["predictions"] - inputs["targets"]) - params.get("delta", 1.0))
            < 1e-3, inputs["targets"] + 0.1, inputs["predictions"])
    p = {**params, "convention": "torch"} if explicit else params
    value, grads = torch_oracle(_torch_fn(name, reduction, params.get("delta", 1.0)), inputs,
                                ("predictions",), reduction)
    r = evaluate(name, inputs, p, reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse", "l1"])
def test_torch_weight_is_sample_weight(name, reduction):
    # F.mse_loss / F.l1_loss(weight=w): mean = sum(w l) / sum(w), as our sample_weight
    rng = rng_for("torch-w", name, reduction)
    inputs = regression_inputs(name, (5, 3), rng)
    w = rng.uniform(0.1, 2.0, size=5)
    full = np.repeat(w[:, None], 3, axis=1)
    value, grads = torch_oracle(_torch_fn(name, reduction, weight=full), inputs,
                                ("predictions",), reduction)
    r = evaluate(name, inputs, {"convention": "torch"}, reduction=reduction, sample_weight=w,
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_l1_kink_keeps_sign_zero_in_every_convention():
    # torch: sign(0) = 0; Keras on JAX would give abs'(0) = 1 (the service keeps 0)
    x, y = [1.0, 2.0, 0.5], [1.0, 1.0, 1.0]
    for conv in ("torch", "keras", "sklearn"):
        r = evaluate("l1", {"predictions": x, "targets": y}, {"convention": conv},
                     reduction="sum", want_grad=True)
        g = to_np(r.gradients["predictions"])
        assert g[0] == 0.0 and g[1] > 0 > g[2]


# ------------------------------------------------------------------- scikit-learn, live


def _sk_inputs(name: str, shape: tuple, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if name == "mape":
        y = rng.uniform(0.1, 3.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
        y.reshape(-1)[-1] = 0.0  # a zero target: |x| / eps64
        return y + rng.normal(size=shape), y
    if name == "msle":  # values in (-1, 0) are allowed by scikit-learn (no clipping)
        return rng.uniform(-0.95, 5.0, size=shape), rng.uniform(-0.95, 5.0, size=shape)
    return rng.normal(size=shape), rng.normal(size=shape)


SK = {"mse": "mean_squared_error", "l1": "mean_absolute_error",
      "mape": "mean_absolute_percentage_error", "msle": "mean_squared_log_error"}


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(9,), (6, 3)])
@pytest.mark.parametrize("name", sorted(SK))
def test_sklearn_convention_matches_sklearn(name, shape, weighted):
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = _sk_inputs(name, shape, zlib.crc32(repr((name, shape)).encode()))
    sw = rng_for("sk-w", name).uniform(0.1, 3.0, size=shape[0]) if weighted else None
    expected = getattr(metrics, SK[name])(y, x, sample_weight=sw)  # multioutput uniform_average
    inputs = {"predictions": x, "targets": y}
    r = evaluate(name, inputs, {"convention": "sklearn"}, reduction="mean", sample_weight=sw)
    assert_close(r.value, expected)
    if len(shape) == 2:  # multioutput='raw_values' is the per-column weighted mean
        raw = getattr(metrics, SK[name])(y, x, sample_weight=sw, multioutput="raw_values")
        el = to_np(evaluate(name, inputs, {"convention": "sklearn"}, reduction="none").value)
        w = np.ones(shape[0]) if sw is None else sw
        assert_close(np.average(el, axis=0, weights=w), raw)


def _torch_sklearn(name: str, sw: np.ndarray | None, shape: tuple):
    """scikit-learn's formula in torch ops: np.average over samples, uniform over outputs."""
    import torch

    def fn(predictions, targets):
        d = predictions - targets
        if name == "mse":
            el = d * d
        elif name == "l1":
            el = torch.abs(d)  # torch.abs'(0) = 0
        elif name == "mape":
            el = torch.abs(d) / torch.clamp(torch.abs(targets), min=F64_EPS)
        else:
            el = (torch.log1p(predictions) - torch.log1p(targets)) ** 2
        w = torch.ones(shape[0], dtype=el.dtype) if sw is None else _t(sw, el)
        w = w.reshape((shape[0],) + (1,) * (len(shape) - 1))
        return (w * el).sum() / (w.sum() * (el.numel() // shape[0]))
    return fn


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(9,), (6, 3)])
@pytest.mark.parametrize("name", sorted(SK))
def test_sklearn_convention_gradients(name, shape, weighted):
    x, y = _sk_inputs(name, shape, zlib.crc32(repr(("g", name, shape)).encode()))
    sw = rng_for("skg-w", name).uniform(0.1, 3.0, size=shape[0]) if weighted else None
    inputs = {"predictions": x, "targets": y}
    value, grads = torch_oracle(_torch_sklearn(name, sw, shape), inputs, ("predictions",),
                                "mean")
    r = evaluate(name, inputs, {"convention": "sklearn"}, reduction="mean", sample_weight=sw,
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    if name != "mape":  # (mape: the zero target's 1 / eps64 slope is too steep for h = 1e-6)
        fd = finite_difference(name, inputs, {"convention": "sklearn"}, "mean", "predictions",
                               sample_weight=sw)
        assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-7)


def test_sklearn_msle_rejects_values_at_or_below_minus_one():
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = np.array([[0.5, 2.0], [1.0, 3.0]]), np.array([[1.0, -1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="less than or equal to -1"):
        metrics.mean_squared_log_error(y, x)
    e = loss_error("msle", {"predictions": x, "targets": y}, {"convention": "sklearn"})
    assert e.code == "invalid_value" and e.loc == ("targets", 0, 1)
    assert "> -1" in e.message and "sklearn" in e.message
    e = loss_error("msle", {"predictions": [0.5, -1.5], "targets": [0.0, 0.0]},
                   {"convention": "sklearn"})
    assert e.code == "invalid_value" and e.loc == ("predictions", 1)
    # Keras clips them instead (gradient 0 where clipped)
    r = evaluate("msle", {"predictions": [0.5, -1.5], "targets": [0.0, 0.0]},
                 {"convention": "keras"}, reduction="sum", want_grad=True)
    assert to_np(r.gradients["predictions"])[1] == 0.0


def test_sklearn_msle_does_not_clip():
    metrics = pytest.importorskip("sklearn.metrics")
    x, y = np.array([-0.5, 1.0, 2.0]), np.array([0.5, -0.9, 3.0])
    sk = evaluate("msle", {"predictions": x, "targets": y}, {"convention": "sklearn"},
                  want_grad=True)
    assert_close(sk.value, metrics.mean_squared_log_error(y, x))
    r = np.log1p(x) - np.log1p(y)
    assert_close(sk.gradients["predictions"], 2 * r / (1 + x) / 3)
    keras = evaluate("msle", {"predictions": x, "targets": y}, {"convention": "keras"})
    assert float(to_np(keras.value)) != pytest.approx(float(to_np(sk.value)))
