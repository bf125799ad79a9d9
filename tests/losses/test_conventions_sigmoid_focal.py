"""The ``convention`` parameter of sigmoid_focal: the default alpha each convention gives
(0.25 for ``torch``, none for ``optax`` and ``keras``), Keras' refusal of an alpha weight, and
Keras' row mean of binary_focal from logits.

Oracle: torchvision's sigmoid_focal_loss transcribed in torch 2.13.0 ops (float64, autograd).
"""

from __future__ import annotations

import numpy as np
import pytest

from service.losses import evaluate, get_loss
from tests.conftest import assert_close, to_np, torch_oracle
from tests.losses.support import REDUCTIONS, loss_error, reduced, rng_for

# --------------------------------------- torchvision's formula in torch ops; optax, keras


def _torch_focal(alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, transcribed (torchvision is not installed)."""
    import torch

    def fn(predictions, targets):
        p = torch.sigmoid(predictions)
        ce = torch.nn.functional.binary_cross_entropy_with_logits(predictions, targets,
                                                                  reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        loss = ce * (1 - p_t) ** gamma
        if alpha >= 0:
            loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
        return reduced(loss, reduction)

    return fn


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("params", "alpha"), [
    ({}, 0.25), ({"convention": "torch"}, 0.25), ({"alpha": None}, 0.25),
    ({"alpha": 0.6, "gamma": 1.5}, 0.6), ({"alpha": -1.0}, -1.0),
    ({"convention": "optax"}, -1.0), ({"convention": "optax", "alpha": None}, -1.0),
    ({"convention": "optax", "alpha": 0.25}, 0.25), ({"convention": "optax", "alpha": -1.0}, -1.0),
])
def test_sigmoid_focal_alpha_default_follows_the_convention(params, alpha, reduction):
    pytest.importorskip("torch")
    rng = rng_for("focal-alpha", repr(params), reduction)
    x = np.clip(rng.normal(size=(4, 3)) * 2.5, -7.0, 7.0)
    y = rng.uniform(size=(4, 3))
    value, grads = torch_oracle(_torch_focal(alpha, params.get("gamma", 2.0), reduction),
                                {"predictions": x, "targets": y}, ("predictions",), reduction)
    r = evaluate("sigmoid_focal", {"predictions": x, "targets": y}, params, reduction=reduction,
                 want_grad=True)
    assert_close(r.value, value)
    assert_close(r.gradients["predictions"], grads["predictions"])


def test_sigmoid_focal_alpha_param_is_nullable_with_convention_default():
    spec = get_loss("sigmoid_focal")
    assert spec.defaults == {"alpha": None, "gamma": 2.0, "convention": "torch"}
    assert spec.param("alpha").nullable and spec.param("alpha").extra_allowed == (-1.0,)
    for bad in (1.5, -0.5):
        err = loss_error("sigmoid_focal", {"predictions": [0.5], "targets": [1.0]}, {"alpha": bad})
        assert err.code == "invalid_param" and err.loc == ("params", "alpha")


def test_sigmoid_focal_keras_refuses_an_alpha_weight():
    inputs = {"predictions": [0.5, -1.0], "targets": [1.0, 0.0]}
    for alpha in (0.25, 0.0, 1.0):
        err = loss_error("sigmoid_focal", inputs, {"convention": "keras", "alpha": alpha})
        assert err.code == "invalid_param" and err.loc == ("params", "alpha")
        assert "binary_focal" in err.message
    a = evaluate("sigmoid_focal", inputs, {"convention": "keras", "alpha": -1.0})
    b = evaluate("sigmoid_focal", inputs, {"convention": "keras"})
    assert_close(a.value, b.value)


@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_sigmoid_focal_keras_equals_binary_focal_from_logits_row_mean(gamma):
    rng = rng_for("focal-k", gamma)
    x, y = rng.normal(size=(3, 4)) * 4.0, rng.uniform(size=(3, 4))
    x[0, 0] = -30.0  # sigmoid below 1e-7: clipped
    k = evaluate("sigmoid_focal", {"predictions": x, "targets": y},
                 {"convention": "keras", "gamma": gamma}, reduction="sum", want_grad=True)
    b = evaluate("binary_focal", {"predictions": x, "targets": y},
                 {"from_logits": True, "gamma": gamma}, reduction="none", want_grad=True)
    assert_close(k.value, to_np(b.value).mean(axis=-1).sum())
    assert_close(k.gradients["predictions"], to_np(b.gradients["predictions"]) / 4.0)
    # not logit-stable: a logit of -1000 with y = 1 saturates at -log(1e-7)
    s = evaluate("sigmoid_focal", {"predictions": [[-1000.0]], "targets": [[1.0]]},
                 {"convention": "keras"}, reduction="none")
    assert_close(s.value, [-np.log(1e-7) * (1.0 - 0.0) ** 2])
