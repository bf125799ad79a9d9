"""probability_cross_entropy's gradients under its ``sklearn`` and ``keras`` conventions: both
formulas written in torch 2.13.0 ops (``torch.clamp`` passes the gradient inside and at the
bounds, 0 outside, like the service) under torch autograd, on rows where the libraries disagree;
the zero gradient of clipped entries, the clip bounds, finite differences away from them, and
every namespace."""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, finite_difference, to_np, to_xp, torch_oracle
from tests.losses.support import F64_EPS, KERAS_EPS, REDUCTIONS, rng_for

NAME = "probability_cross_entropy"
# rows where the libraries disagree: p_y = 0, a row summing to 0.8, p_y = 1, p_y = 1e-9 in a row
# summing to 1.2, an interior row
P_ODD = np.array([[0.0, 0.7, 0.3], [0.2, 0.4, 0.2], [1.0, 0.0, 0.0], [0.3, 1e-9, 0.9],
                  [0.05, 0.6, 0.35]])
Y_ODD = np.array([0, 1, 0, 1, 2])
SW_ODD = np.array([0.5, 2.0, 1.25, 0.8, 1.5])


# ------------------------------------------------- both formulas in torch ops (autograd)


def _torch_formula(conv: str, reduction: str, t: np.ndarray, sw: np.ndarray | None,
                   eps: float = F64_EPS):
    """The sklearn / Keras formula in torch ops on target rows ``t`` (already smoothed)."""
    import torch

    tt = torch.as_tensor(t, dtype=torch.float64)
    w = None if sw is None else torch.as_tensor(sw, dtype=torch.float64)

    def fn(predictions):
        if conv == "keras":
            r = predictions / predictions.sum(dim=-1, keepdim=True)
            q = torch.clamp(r, KERAS_EPS, 1 - KERAS_EPS)
        else:
            q = torch.clamp(predictions, eps, 1 - eps)
        loss = -(tt * torch.log(q)).sum(dim=-1)
        if w is not None:
            loss = loss * w
        if reduction == "none":
            return loss
        if reduction == "sum":
            return loss.sum()
        denom = w.sum() if (w is not None and conv == "sklearn") else loss.shape[0]
        return loss.sum() / denom

    return fn


def _targets(kind: str, rng, y: np.ndarray, c: int) -> np.ndarray:
    if kind == "index":
        return y
    if kind == "onehot":
        return np.eye(c)[y]
    t = rng.uniform(size=(len(y), c))
    return t / t.sum(axis=1, keepdims=True)


def _smoothed_rows(t: np.ndarray, c: int, ls: float) -> np.ndarray:
    rows = np.eye(c)[t] if t.dtype.kind in "iu" else t
    return rows * (1.0 - ls) + ls / c


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.15])
@pytest.mark.parametrize("kind", ["index", "onehot", "soft"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("conv", ["sklearn", "keras"])
def test_matches_torch_autograd(conv, reduction, kind, ls, weighted):
    pytest.importorskip("torch")
    rng = rng_for("torch", conv, reduction, kind, ls, weighted)
    p = P_ODD.copy()
    p[1, 2] = 1e-300  # clipped by both
    p[4] = [1e-17, 0.5, 0.5]  # clipped by both (tiny, not the target)
    t = _targets(kind, rng, Y_ODD, 3)
    sw = SW_ODD if weighted else None
    value, grads = torch_oracle(_torch_formula(conv, reduction, _smoothed_rows(t, 3, ls), sw),
                                {"predictions": p}, ("predictions",), reduction)
    r = evaluate(NAME, {"predictions": p, "targets": t},
                 {"convention": conv, "label_smoothing": ls}, reduction=reduction,
                 sample_weight=sw, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_clipped_entries_have_zero_gradient():
    p = np.array([[0.0, 0.7, 0.3], [0.3, 1e-9, 0.9], [1.0, 0.0, 0.0]])
    y = np.array([0, 1, 0])
    sk = to_np(evaluate(NAME, {"predictions": p, "targets": y}, reduction="sum",
                        want_grad=True).gradients["predictions"])
    assert sk[0, 0] == 0.0 and sk[2, 0] == 0.0  # p_y = 0 and p_y = 1: outside [eps, 1 - eps]
    assert_close(sk[1, 1], -1e9)  # 1e-9 > eps: not clipped by sklearn
    assert np.all(sk[:, 1:][y[:, None] != np.arange(1, 3)] == 0.0)  # t_c = 0: no gradient
    k = to_np(evaluate(NAME, {"predictions": p, "targets": y}, {"convention": "keras"},
                      reduction="sum", want_grad=True).gradients["predictions"])
    assert np.all(k[2] == 0.0)  # r = (1, 0, 0): the only term with t_c > 0 is clipped
    # r_y = 1e-9 / 1.2 < 1e-7 and r_y = 0 are clipped: the only term with t_c > 0 passes no
    # gradient, so nothing reaches the renormalisation either
    assert np.all(k[1] == 0.0) and np.all(k[0] == 0.0)


def test_clip_bounds_pass_the_gradient():
    # exactly at a bound the gradient passes (torch.clamp's choice; jnp.clip gives one half)
    p = np.array([[F64_EPS, 1.0 - F64_EPS]])
    r = evaluate(NAME, {"predictions": p, "targets": [[0.25, 0.75]]}, reduction="sum",
                 want_grad=True)
    assert_close(r.gradients["predictions"], [[-0.25 / F64_EPS, -0.75 / (1.0 - F64_EPS)]])
    row = np.array([[KERAS_EPS, 1.0 - KERAS_EPS]])
    assert row.sum() == 1.0  # r = p exactly, so r sits on both Keras bounds
    t = np.array([[0.25, 0.75]])
    r = evaluate(NAME, {"predictions": row, "targets": t}, {"convention": "keras"},
                 reduction="sum", want_grad=True)
    g_o = -t / row
    assert_close(r.gradients["predictions"], g_o - np.sum(g_o * row))


# --------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("params", "kind"), [
    ({"convention": "sklearn"}, "index"),
    ({"convention": "sklearn", "label_smoothing": 0.2}, "soft"),
    ({"convention": "keras"}, "index"),
    ({"convention": "keras", "label_smoothing": 0.3}, "onehot"),
    ({"convention": "keras"}, "soft"),
], ids=lambda v: repr(v)[:40])
def test_gradients_match_finite_differences(params, kind, reduction):
    rng = rng_for("fd", repr(params), kind, reduction)
    p = rng.uniform(0.05, 0.9, size=(4, 3))  # rows not summing to 1, away from every clip bound
    t = _targets(kind, rng, rng.integers(0, 3, size=4), 3)
    inputs = {"predictions": p, "targets": t}
    sw = rng.uniform(0.5, 2.0, size=4)
    r = evaluate(NAME, inputs, params, reduction=reduction, sample_weight=sw, want_grad=True)
    fd = finite_difference(NAME, inputs, params, reduction, "predictions", sample_weight=sw)
    assert_close(r.gradients["predictions"], fd, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------- across namespaces


@pytest.mark.parametrize("kind", ["index", "soft"])
@pytest.mark.parametrize("conv", ["sklearn", "keras"])
def test_runs_on_every_namespace(xp, conv, kind):
    rng = rng_for("xp", conv, kind)
    p = P_ODD.copy()
    t = _targets(kind, rng, Y_ODD, 3)
    inputs = {"predictions": p, "targets": t}
    params = {"convention": conv, "label_smoothing": 0.1}
    for dtype in ("float64", "float32"):
        for reduction in ("mean", "none"):
            ref = evaluate(NAME, inputs, params, reduction=reduction, sample_weight=SW_ODD,
                           dtype=dtype, want_grad=True)
            r = evaluate(NAME, {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                         reduction=reduction, sample_weight=to_xp(xp, SW_ODD), dtype=dtype,
                         want_grad=True)
            tol = {"rtol": 1e-12} if dtype == "float64" else {"rtol": 1e-5, "atol": 1e-6}
            assert_close(r.value, ref.value, **tol)
            assert_close(r.per_sample, ref.per_sample, **tol)
            assert_close(r.gradients["predictions"], ref.gradients["predictions"], **tol)
