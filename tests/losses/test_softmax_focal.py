"""focal, the softmax focal loss (service/losses/softmax_focal.py), against Lin et al.'s formula
written here with torch ops (torch 2.13.0, float64, autograd): per-class alpha, its reduction to
cross_entropy at gamma 0, stability at logits of +-1000 and where p_t is (nearly) 1, every error
code, and the array-API paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, to_xp, torch_oracle
from tests.losses.multiclass_support import C, W, class_targets
from tests.losses.support import REDUCTIONS, check_oracle, loss_error, rng_for

# ----------------------------------------------------------------------------- focal


def _focal_ref(reduction, gamma, alpha):
    """Lin et al. (2017), softmax form: -alpha_t (1 - p_t)^gamma log p_t, with torch ops."""
    import torch
    import torch.nn.functional as F

    def fn(predictions, targets):
        logp = F.log_softmax(predictions, dim=-1)
        log_pt = torch.gather(logp, -1, targets[..., None])[..., 0]
        if alpha is None:
            a = 1.0
        elif isinstance(alpha, float):
            a = alpha
        else:
            a = torch.tensor(alpha, dtype=torch.float64)[targets]
        loss = -a * (1 - log_pt.exp()) ** gamma * log_pt
        return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]
    return fn


FOCAL_CASES = [(2.0, None), (0.0, None), (0.5, 0.25), (3.7, W), (1.0, W)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (9, 4)])
@pytest.mark.parametrize(("gamma", "alpha"), FOCAL_CASES)
def test_focal_matches_reference(gamma, alpha, shape, reduction):
    rng = rng_for("focal", shape, reduction, gamma, repr(alpha))
    x = rng.normal(size=shape) * 3
    t = class_targets(rng, shape, C)
    params = {"gamma": gamma, "alpha": alpha}
    check_oracle("focal", {"predictions": x, "targets": t}, params, reduction,
                 _focal_ref(reduction, gamma, alpha))


def test_focal_gamma_0_is_cross_entropy():
    rng = rng_for("focal-ce")
    x, t = rng.normal(size=(6, 4)) * 2, rng.integers(0, 4, size=6)
    inputs = {"predictions": x, "targets": t}
    for red in REDUCTIONS:
        a = evaluate("focal", inputs, {"gamma": 0.0}, reduction=red, want_grad=True)
        b = evaluate("cross_entropy", inputs, reduction=red, want_grad=True)
        assert_close(a.value, b.value, rtol=1e-13)
        assert_close(a.gradients["predictions"], b.gradients["predictions"], rtol=1e-12,
                     atol=1e-15)
    # per-class alpha = class weights, unreduced (torch's weighted mean divides by sum w_y)
    a = evaluate("focal", inputs, {"gamma": 0.0, "alpha": W}, reduction="none")
    b = evaluate("cross_entropy", inputs, {"weight": W}, reduction="none")
    assert_close(a.value, b.value, rtol=1e-13)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_focal_stable_at_logits_1000(reduction):
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0], [0.0, -1000.0, 1000.0]])
    t = np.array([2, 1, 1])
    r = check_oracle("focal", {"predictions": x, "targets": t}, {"gamma": 2.0, "alpha": 0.5},
                     reduction, _focal_ref(reduction, 2.0, 0.5))
    assert np.all(np.isfinite(to_np(r.gradients["predictions"])))


@pytest.mark.parametrize("gamma", [0.0, 0.3, 0.5, 0.99])
def test_focal_no_nan_when_p_t_is_1(gamma):
    # Row 1: p_t == 1 exactly (1 - p_t = 0), where (1-p_t)^(gamma-1) would be inf; the limit is
    # used, giving loss 0 and gradient 0. Row 2: 1 - p_t = 2e/(1+2e), e = e^-30, compared with the
    # closed form evaluated in Python (log1p, no cancellation) and with the torch-ops reference.
    x = np.array([[1000.0, -1000.0, 0.0], [30.0, 0.0, 0.0]])
    t = np.array([0, 0])
    r = evaluate("focal", {"predictions": x, "targets": t}, {"gamma": gamma}, reduction="none",
                 want_grad=True)
    g = to_np(r.gradients["predictions"])
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(to_np(r.value)))
    assert to_np(r.value)[0] == 0.0 and np.all(g[0] == 0.0)
    e = math.exp(-30.0)
    q, log_pt, p_j = 2 * e / (1 + 2 * e), -math.log1p(2 * e), e / (1 + 2 * e)
    bracket = q**gamma - gamma * q ** (gamma - 1) * (1 - q) * log_pt
    assert_close(to_np(r.value)[1], -(q**gamma) * log_pt, rtol=1e-12, atol=0)
    assert_close(g[1], [-q * bracket, p_j * bracket, p_j * bracket], rtol=1e-12, atol=0)
    value, _ = torch_oracle(_focal_ref("none", gamma, None),
                            {"predictions": x[1:], "targets": t[1:]}, ("predictions",), "none")
    assert_close(to_np(r.value)[1:], value, rtol=1e-6)


def test_focal_small_one_minus_p_t_is_accurate():
    # logits (20, 0), target 0: 1 - p_t = 1/(1+e^20), -log p_t = log1p(e^-20) (exact formulas)
    q = 1.0 / (1.0 + math.exp(20.0))
    expected = q**2 * math.log1p(math.exp(-20.0))
    r = evaluate("focal", {"predictions": [[20.0, 0.0]], "targets": [0]}, reduction="sum")
    assert_close(r.value, expected, rtol=1e-13, atol=0)


def test_focal_errors():
    inputs = {"predictions": [[0.0, 1.0, 2.0]], "targets": [0]}
    e = loss_error("focal", inputs, {"gamma": -1.0})
    assert e.code == "invalid_param" and e.loc == ("params", "gamma")
    e = loss_error("focal", inputs, {"alpha": [0.5, 0.5]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha")
    e = loss_error("focal", inputs, {"alpha": [0.5, -0.5, 1.0]})
    assert e.code == "invalid_param" and e.loc == ("params", "alpha", 1)
    e = loss_error("focal", {"predictions": np.zeros((1, 3, 2)), "targets": [[0, 0]]})
    assert e.code == "invalid_shape" and e.loc == ("predictions",)
    e = loss_error("focal", {"predictions": [[0.0, 1.0, 2.0]], "targets": [3]})
    assert e.code == "class_index_out_of_range" and e.loc == ("targets", 0)


def test_focal_array_api_strict_unbatched(xp):
    inputs = {"predictions": np.array([0.3, -1.0, 2.0]), "targets": np.array(1)}
    params = {"gamma": 0.5, "alpha": [0.2, 0.3, 0.5]}
    ref = evaluate("focal", inputs, params, reduction="sum", want_grad=True)
    got = evaluate("focal", {k: to_xp(xp, v) for k, v in inputs.items()}, params,
                   reduction="sum", want_grad=True)
    assert_close(got.value, ref.value, rtol=1e-13)
    assert_close(got.gradients["predictions"], ref.gradients["predictions"], rtol=1e-13)
