"""The ``convention`` parameter of kl_div: ``torch`` against PyTorch (every reduction, batchmean
too), ``optax``'s mean (torch's batchmean), ``keras`` on clipped probabilities (not
log-probabilities), its refusals, and finite differences.

Oracles: PyTorch 2.13.0 live (float64 autograd); Keras' formula written in torch ops. Its Keras and
optax goldens are in test_conventions_multiclass.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, torch_oracle
from tests.losses.conventions_support import check_fd, check_torch
from tests.losses.support import REDUCTIONS, loss_error, reduced, rng_for

# ------------------------------------------------------------------------------ kl_div


def _log_rows(rng, n, c):
    q = rng.dirichlet(np.full(c, 1.5), size=n)
    p = rng.dirichlet(np.full(c, 1.5), size=n)
    p[0, 0] = 0.0
    p[0] /= p[0].sum()
    return np.log(q), p


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_torch_convention_matches_torch(reduction):
    import torch.nn.functional as F

    x, p = _log_rows(rng_for("kl-torch", reduction), 5, 4)

    def fn(predictions, targets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return F.kl_div(predictions, targets, reduction=reduction)

    check_torch("kl_div", {"predictions": x, "targets": p}, {"convention": "torch"},
                reduction, fn, ("predictions",))


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_optax_mean_is_torch_batchmean_not_torch_mean(log_target):
    import torch.nn.functional as F

    x, p = _log_rows(rng_for("kl-optax", log_target), 6, 3)
    t = np.log(p + (p == 0)) - 50.0 * (p == 0) if log_target else p
    inputs = {"predictions": x, "targets": t}
    params = {"convention": "optax", "log_target": log_target}

    def torch_kl(reduction):
        def fn(predictions, targets):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return F.kl_div(predictions, targets, reduction=reduction,
                                log_target=log_target)
        return fn

    value, grads = torch_oracle(torch_kl("batchmean"), inputs, ("predictions",), "batchmean")
    r = evaluate("kl_div", inputs, params, reduction="mean", want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    torch_mean = evaluate("kl_div", inputs, {"log_target": log_target}, reduction="mean")
    assert_close(torch_mean.value, to_np(r.value) / 3)  # torch 'mean' divides by N*C
    none = evaluate("kl_div", inputs, params, reduction="none")
    assert to_np(none.value).shape == (6,)


def _torch_keras_kl(reduction):
    import torch

    def fn(predictions, targets):
        # torch.clamp passes the gradient at the bounds: the service's choice (JAX gives 1/2)
        pc = torch.clamp(targets, 1e-7, 1.0)
        qc = torch.clamp(predictions, 1e-7, 1.0)
        return reduced((pc * torch.log(pc / qc)).sum(-1), reduction)
    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_kl_keras_convention_matches_a_torch_reference(reduction):
    rng = rng_for("kl-keras", reduction)
    q = rng.dirichlet(np.full(4, 1.5), size=5)
    p = rng.dirichlet(np.full(4, 1.5), size=5)
    q[0] = [0.0, 1e-9, 0.4, 0.6 - 1e-9]  # clipped: gradient 0
    q[1] = [1.0, 0.0, 0.0, 0.0]  # q exactly 1: not clipped (gradient -p')
    p[2] = [0.0, 0.0, 1.0, 0.0]
    r = check_torch("kl_div", {"predictions": q, "targets": p}, {"convention": "keras"},
                    reduction, _torch_keras_kl(reduction), ("predictions",))
    g = to_np(r.gradients["predictions"])
    assert g[0, 0] == 0.0 and g[0, 1] == 0.0 and g[1, 0] != 0.0


def test_kl_keras_predictions_are_probabilities_not_log_probabilities():
    q = np.array([[0.3, 0.5, 0.2], [0.7, 0.2, 0.1]])
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    keras = evaluate("kl_div", {"predictions": q, "targets": p}, {"convention": "keras"},
                     reduction="none")
    optax = evaluate("kl_div", {"predictions": np.log(q), "targets": p},
                     {"convention": "optax"}, reduction="none")
    assert_close(keras.value, optax.value)  # no clipping in play: the same KL per sample
    e = loss_error("kl_div", {"predictions": np.log(q), "targets": p}, {"convention": "keras"})
    assert e.code == "probability_out_of_range" and e.loc[0] == "predictions"
    e = loss_error("kl_div", {"predictions": q, "targets": p}, {"convention": "optax"})
    assert e.code == "invalid_value" and e.loc[0] == "predictions"


def test_kl_keras_can_be_slightly_negative():
    # a zero target is clipped to 1e-7 and contributes 1e-7 log(1e-7 / q): here -1.6e-6
    r = evaluate("kl_div", {"predictions": [[1.0, 1.0]], "targets": [[1.0, 0.0]]},
                 {"convention": "keras"}, reduction="none")
    assert_close(r.value, [1e-7 * np.log(1e-7)])
    assert float(to_np(r.value)[0]) < 0.0


def test_kl_keras_refuses_log_target_and_scalars():
    e = loss_error("kl_div", {"predictions": [0.5, 0.5], "targets": [0.5, 0.5]},
                   {"convention": "keras", "log_target": True})
    assert e.code == "invalid_param" and e.loc == ("params", "log_target")
    for convention in ("keras", "optax"):
        e = loss_error("kl_div", {"predictions": -0.5, "targets": 0.5}, {"convention": convention})
        assert e.code == "invalid_shape"


@pytest.mark.parametrize(("convention", "log_target"),
                         [("optax", False), ("optax", True), ("keras", False)])
def test_kl_gradients_match_finite_differences(convention, log_target):
    rng = rng_for("kl-fd", convention, log_target)
    q = rng.dirichlet(np.full(3, 2.0), size=(2, 4))
    p = rng.dirichlet(np.full(3, 2.0), size=(2, 4))
    x = q if convention == "keras" else np.log(q)
    t = np.log(p) if log_target else p
    params = {"convention": convention, "log_target": log_target}
    check_fd("kl_div", {"predictions": x, "targets": t}, params,
             ("mean", "sum", "none", "batchmean"))
    check_fd("kl_div", {"predictions": x, "targets": t}, params, ("mean",),
             sample_weight=rng.uniform(0.5, 2.0, size=2))
