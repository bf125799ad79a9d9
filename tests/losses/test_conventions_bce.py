"""The ``convention`` parameter of binary_cross_entropy (and its ``label_smoothing``) and of
binary_cross_entropy_with_logits.

Oracles: torch 2.13.0 live (``torch.nn.functional``, float64, autograd) for ``torch`` (and
``optax``, which agrees with it on logits), plus the Keras and scikit-learn clipped formulas
written in torch ops (``torch.clamp`` passes the gradient inside and at the bounds, 0 outside,
like the service) for gradients; scikit-learn 1.9.1 live (``log_loss``) for ``sklearn`` values.
"""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate
from tests.conftest import assert_close, to_np, torch_oracle
from tests.losses.conventions_support import interior_probabilities
from tests.losses.support import F32_EPS, F64_EPS, REDUCTIONS, reduced, rng_for, sklearn_metrics

# ------------------------------------------------------------------- torch (live PyTorch)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ls", [0.1, 0.35, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_torch_label_smoothing_is_bce_on_smoothed_targets(weighted, ls, reduction):
    torch = pytest.importorskip("torch")
    rng = rng_for("bce-ls", weighted, ls, reduction)
    p, y = interior_probabilities(rng, (5, 3))
    p[0, 0], p[1, 1], y[0, 0], y[1, 1] = 0.0, 1.0, 1.0, 0.0  # PyTorch's -100 log clamp
    w = [float(v) for v in rng.uniform(0.5, 2.0, size=3)] if weighted else None
    ys = y * (1.0 - ls) + 0.5 * ls

    def ref(predictions, targets):
        wt = None if w is None else torch.as_tensor(w, dtype=torch.float64)
        return torch.nn.functional.binary_cross_entropy(predictions, targets, weight=wt,
                                                        reduction=reduction)

    value, grads = torch_oracle(ref, {"predictions": p, "targets": ys}, ("predictions",),
                                reduction)
    params = {"label_smoothing": ls} | ({"weight": w} if weighted else {})
    for conv in ({}, {"convention": "torch"}):
        r = evaluate("bce", {"predictions": p, "targets": y}, params | conv, reduction=reduction,
                     want_grad=True)
        assert_close(r.value, value)
        assert_close(r.gradients["predictions"], grads["predictions"])


def test_bce_label_smoothing_zero_changes_nothing():
    rng = rng_for("ls0")
    p, y = interior_probabilities(rng, (4, 3))
    for conv in ("torch", "keras", "sklearn"):
        a = evaluate("bce", {"predictions": p, "targets": y}, {"convention": conv},
                     want_grad=True)
        b = evaluate("bce", {"predictions": p, "targets": y},
                     {"convention": conv, "label_smoothing": 0.0}, want_grad=True)
        assert np.array_equal(to_np(a.value), to_np(b.value))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_torch_and_optax_agree_with_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = rng_for("bcel", reduction)
    x = rng.normal(size=(4, 3)) * 5.0
    x[0, 0] = -800.0
    y = rng.uniform(size=(4, 3))

    def ref(predictions, targets):
        return torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets,
                                                                    reduction=reduction)

    value, grads = torch_oracle(ref, {"predictions": x, "targets": y}, ("predictions",),
                                reduction)
    for conv in ("torch", "optax"):
        r = evaluate("bce_with_logits", {"predictions": x, "targets": y}, {"convention": conv},
                     reduction=reduction, want_grad=True)
        assert_close(r.value, value)
        assert_close(r.gradients["predictions"], grads["predictions"])


def test_bce_with_logits_keras_is_the_row_mean_of_torch_with_weights_too():
    rng = rng_for("bcel-k")
    x, y = rng.normal(size=(4, 3)) * 3.0, rng.uniform(size=(4, 3))
    params = {"weight": [0.5, 1.0, 2.0], "pos_weight": 3.0}
    t = evaluate("bce_with_logits", {"predictions": x, "targets": y}, params, reduction="none",
                 want_grad=True)
    k = evaluate("bce_with_logits", {"predictions": x, "targets": y},
                 params | {"convention": "keras"}, reduction="none", want_grad=True)
    assert_close(k.value, to_np(t.value).mean(axis=-1))
    assert_close(k.gradients["predictions"], to_np(t.gradients["predictions"]) / 3.0)


# ----------------------------------------------------- clipping formulas in torch (autograd)


def _torch_clipped_bce(conv, reduction, eps=None, row_mean=False):
    """Keras' / sklearn's clipped BCE in torch ops; torch.clamp's gradient is 0 outside."""
    import torch

    def fn(predictions, targets):
        if conv == "keras":
            pc = torch.clamp(predictions, 1e-7, 1 - 1e-7)
            loss = -(targets * torch.log(pc) + (1 - targets) * torch.log(1 - pc))
        else:
            pc = torch.clamp(predictions, eps, 1 - eps)
            qc = torch.clamp(1 - predictions, eps, 1 - eps)
            loss = -((1 - targets) * torch.log(qc) + targets * torch.log(pc))
        if row_mean:
            loss = loss.mean(dim=-1)
        return reduced(loss, reduction)

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("conv", ["keras", "sklearn"])
def test_clipped_bce_matches_torch_autograd(conv, reduction):
    pytest.importorskip("torch")
    rng = rng_for("clip", conv, reduction)
    p, y = interior_probabilities(rng, (5, 4))
    # clipped in both conventions, clipped in Keras only, and 1 - p rounding to 1 (sklearn)
    p[0, :] = [0.0, 1.0, 1e-9, 1.0 - 1e-9]
    p[1, :2] = [1e-17, 1e-300]
    y[0, :], y[1, :2] = [1.0, 0.0, 0.3, 0.8], [0.0, 1.0]
    value, grads = torch_oracle(
        _torch_clipped_bce(conv, reduction, F64_EPS, row_mean=conv == "keras"),
        {"predictions": p, "targets": y}, ("predictions",), reduction)
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": conv},
                 reduction=reduction, want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])
    g = to_np(r.gradients["predictions"])
    assert np.all(g[0, :2] == 0.0)  # p = 0 and p = 1: the clip is active
    assert (g[0, 2] == 0.0) == (conv == "keras")


def test_clip_bounds_pass_the_gradient():
    # exactly at a bound the gradient passes (torch.clamp's choice; jnp.clip gives half)
    p, y = np.array([1e-7, 1.0 - 1e-7]), np.array([0.0, 1.0])
    r = evaluate("bce", {"predictions": [p], "targets": [y]}, {"convention": "keras"},
                 reduction="sum", want_grad=True)
    pc = np.array([1e-7, 1.0 - 1e-7])
    assert_close(r.gradients["predictions"], [((1 - y) / (1 - pc) - y / pc) / 2])


# ------------------------------------------------------------------------- sklearn (live)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("labels", ["hard", "extreme", "one_class"])
def test_bce_sklearn_matches_log_loss(labels, weighted):
    m = sklearn_metrics()
    rng = rng_for("log_loss", labels, weighted)
    p = rng.uniform(0.01, 0.99, size=9)
    y = rng.integers(0, 2, size=9).astype(float)
    if labels == "extreme":  # clipped: p = 0 / 1 / tiny / 1 - tiny on the wrong side
        p[:6] = [0.0, 1.0, 1e-20, 1.0 - 1e-17, 0.0, 1.0]
        y[:6] = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]
    if labels == "one_class":
        y[:] = 1.0
    sw = rng.uniform(0.2, 3.0, size=9) if weighted else None
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 sample_weight=sw)
    assert_close(r.value, m.log_loss(y, p, sample_weight=sw, labels=[0.0, 1.0]))
    s = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 reduction="sum", sample_weight=sw)
    assert_close(s.value, m.log_loss(y, p, sample_weight=sw, labels=[0.0, 1.0],
                                     normalize=False))


def test_bce_sklearn_float32_uses_the_float32_eps():
    m = sklearn_metrics()
    p = np.array([0.0, 1.0, 0.3, 1e-9], dtype=np.float32)
    y = np.array([1.0, 0.0, 1.0, 1.0])
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 dtype="float32")
    assert_close(r.value, m.log_loss(y, p, labels=[0.0, 1.0]), rtol=1e-6)
    one = evaluate("bce", {"predictions": [0.0], "targets": [1.0]}, {"convention": "sklearn"},
                   dtype="float32")
    assert_close(one.value, -np.log(F32_EPS), rtol=1e-6)  # 15.94


def test_bce_sklearn_two_dimensional_is_the_column_average_of_log_loss():
    m = sklearn_metrics()
    rng = rng_for("log_loss-2d")
    p = rng.uniform(size=(6, 3))
    p[0, 0] = 0.0
    y = rng.integers(0, 2, size=(6, 3)).astype(float)
    y[0, 0] = 1.0
    sw = rng.uniform(0.5, 2.0, size=6)
    r = evaluate("bce", {"predictions": p, "targets": y}, {"convention": "sklearn"},
                 sample_weight=sw)
    cols = [m.log_loss(y[:, j], p[:, j], sample_weight=sw, labels=[0.0, 1.0]) for j in range(3)]
    assert_close(r.value, np.mean(cols))
